import PGConnect
import XCTest
@testable import PGDiagnostics

/// The one diagnoser on the facts of a check: libpq's result decides the outcome, and a local
/// prediction that libpq contradicts is reported as such instead of shipped as a diagnosis.
/// (The messages are libpq 15's, recorded from the real failures the CLI tests produce live.)
final class DiagnoserTests: XCTestCase {
    let target = ResolvedTarget(ConnectionOptions(["host": "127.0.0.1", "port": "5432", "user": "alice",
                                                   "dbname": "postgres", "sslmode": "require"]))

    /// The inspector's findings for a key libpq refuses for its mode.
    func predictedKeyPermissions() -> ClientFilesInspector.Result {
        let key = ClientFilesInspector.File(path: "/k", named: true, exists: true)
        var files = ClientFilesInspector.Result(sslmode: .require, findings: [.keyPermissions(key, .init(mode: 0o644, owner: 0, ownerName: "root"))])
        files.key = key
        return files
    }

    func testLibpqConnectingOverridesAPredictedFailure() {
        var facts = CheckFacts(target: target)
        facts.files = predictedKeyPermissions()
        facts.attempt = .connected(ConnectedFacts(tls: nil, timings: [], server: .init(version: "15", currentUser: "alice", clientDN: nil, ssl: false),
                                                  serverDetail: nil, sslmode: .require))
        let report = Diagnoser().report(facts)
        XCTAssertEqual(report.outcome, .connected)
        XCTAssertEqual(report.exitStatus, 0)
        XCTAssertNil(report.diagnosis, "libpq connected: no failure to diagnose")
        let warning = report.warnings.first { $0.code == .predictionContradicted }
        XCTAssertNotNil(warning, "\(report.warnings)")
        XCTAssertTrue(warning?.summary.contains("key-permissions") ?? false)
        XCTAssertFalse(report.checks.contains { $0.status == .fail }, "the predicted failure is no longer shown as one")
    }

    func testLibpqFailingElsewhereOverridesThePrediction() {
        var facts = CheckFacts(target: target)
        facts.files = predictedKeyPermissions()
        let message = "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28000: role \"alice\" does not exist\n"
        facts.attempt = .failed(ConnectionError(code: .authenticationFailed, phase: .authentication, message: message), probe: nil)
        let report = Diagnoser().report(facts)
        XCTAssertEqual(report.outcome, .refused)
        XCTAssertEqual(report.diagnosis?.code, .roleMissing)
        XCTAssertTrue(report.warnings.contains { $0.code == .predictionContradicted })
    }

    func testLibpqConfirmingThePredictionKeepsItsAccountAndLibpqsWords() {
        var facts = CheckFacts(target: target)
        facts.files = predictedKeyPermissions()
        let message = "connection to server at \"127.0.0.1\", port 5432 failed: private key file \"/k\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root\n"
        facts.attempt = .failed(ConnectionError(code: .connectionFailed, phase: .tls, message: message), probe: nil)
        let report = Diagnoser().report(facts)
        XCTAssertEqual(report.outcome, .localSetup)
        XCTAssertEqual(report.exitStatus, 3)
        XCTAssertEqual(report.diagnosis?.code, .keyPermissions)
        XCTAssertEqual(report.diagnosis?.summary, "The client key /k is readable by others (mode 0644)")
        XCTAssertEqual(report.diagnosis?.libpqMessage, message.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertFalse(report.warnings.contains { $0.code == .predictionContradicted })
    }

    func testAnUnreachableServerLeavesThePredictionUntested() {
        var facts = CheckFacts(target: target)
        facts.files = predictedKeyPermissions()
        let message = "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n"
        facts.attempt = .failed(ConnectionError(code: .connectionFailed, phase: .connecting, message: message), probe: nil)
        let report = Diagnoser().report(facts)
        XCTAssertEqual(report.outcome, .unreachable)
        XCTAssertEqual(report.diagnosis?.code, .connectionRefused)
        XCTAssertTrue(report.diagnosis?.evidence.contains { $0.contains("key-permissions") } ?? false)
        XCTAssertFalse(report.warnings.contains { $0.code == .predictionContradicted }, "libpq never reached the files")
    }

    func testARootCertificatePathOtherThanLibpqsIsAContradiction() {
        var facts = CheckFacts(target: target)
        let root = ClientFilesInspector.File(path: "/etc/passwd-home/.postgresql/root.crt", named: false, exists: false)
        var files = ClientFilesInspector.Result(sslmode: .verifyFull, findings: [.missing(.rootCertificate, root, missingDirectory: nil)])
        files.rootCertificate = root
        facts.files = files
        XCTAssertEqual(facts.files?.diagnosis?.summary, "The root certificate file /etc/passwd-home/.postgresql/root.crt does not exist")
        func libpqSays(_ path: String) -> AttemptFacts {
            let message = "connection to server at \"127.0.0.1\", port 5432 failed: root certificate file \"\(path)\" does not exist\nEither provide the file or change sslmode to disable server certificate verification.\n"
            return .failed(ConnectionError(code: .connectionFailed, phase: .tls, message: message), probe: nil)
        }
        facts.attempt = libpqSays("/home/app/.postgresql/root.crt")
        let report = Diagnoser().report(facts)
        XCTAssertEqual(report.diagnosis?.code, .rootCertMissing)
        XCTAssertTrue(report.warnings.contains { $0.code == .predictionContradicted }, "libpq looked elsewhere: the prediction's path was wrong")
        // The same path: libpq confirms the prediction.
        facts.attempt = libpqSays(root.path)
        XCTAssertFalse(Diagnoser().report(facts).warnings.contains { $0.code == .predictionContradicted })
    }
}
