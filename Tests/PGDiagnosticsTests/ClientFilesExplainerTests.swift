import PGConnect
import XCTest
@testable import PGDiagnostics

/// The words for the inspector's findings: facts in, the same checks, diagnosis and warnings out,
/// decided by the result's facts alone (sslmode, reader), never by the machine running it.
final class ClientFilesExplainerTests: XCTestCase {
    typealias File = ClientFilesInspector.File
    let reader = ClientFilesInspector.Reader(uid: 1000, name: "app")

    func testFindingsBecomeChecksInLibpqsOrderAndTheFirstFailureTheDiagnosis() {
        let home = LibPQRules.HomeDirectory(path: "/home/app", source: .environment)
        let root = File(path: "/home/app/.postgresql/root.crt", named: false, exists: false, home: home)
        let certificate = File(path: "/nowhere/client.crt", named: true, exists: false)
        let findings: [ClientFilesInspector.Finding] = [
            .missing(.rootCertificate, root, missingDirectory: nil),
            .missing(.certificate, certificate, missingDirectory: "/nowhere"),
            .crlMissing(path: "/nowhere/root.crl"),
        ]
        let prefer = ClientFilesExplainer().explain(.init(sslmode: .prefer, reader: reader, findings: findings))
        XCTAssertEqual(prefer.checks.map(\.id), ["root-certificate", "client-certificate", "crl-file"])
        XCTAssertEqual(prefer.checks.map(\.status), [.skip, .fail, .warn])
        XCTAssertEqual(prefer.diagnosis?.code, .certFileMissing)
        XCTAssertEqual(prefer.diagnosis?.evidence, ["/nowhere/client.crt does not exist (nor does the directory /nowhere)"])

        // The same files with verify-full: libpq needs the root certificate, and it fails first.
        let verifying = ClientFilesInspector.Result(sslmode: .verifyFull, reader: reader, findings: findings)
        XCTAssertEqual(verifying.checks.map(\.status), [.fail, .fail, .warn])
        XCTAssertEqual(verifying.diagnosis?.code, .rootCertMissing)
        XCTAssertTrue(verifying.diagnosis?.evidence.first?.contains("home directory /home/app, from $HOME") ?? false,
                      "\(verifying.diagnosis?.evidence ?? [])")
        XCTAssertTrue(verifying.warnings.isEmpty)
    }

    func testTheKeyFixNamesTheReaderFromTheFacts() {
        let key = File(path: "/keys/client.key", named: false, exists: true)
        let status = ClientFilesInspector.KeyStatus(mode: 0o644, owner: 1001, ownerName: "other")
        let result = ClientFilesInspector.Result(sslmode: .require, reader: reader, findings: [.keyPermissions(key, status)])
        XCTAssertEqual(result.diagnosis?.summary, "The client key /keys/client.key is readable by others (mode 0644)")
        XCTAssertEqual(result.diagnosis?.evidence, ["owner other (uid 1001), mode 0644"])
        XCTAssertEqual(result.diagnosis?.fixes.first, "chmod 600 /keys/client.key (as its owner, or chown app /keys/client.key first)")
        let owned = ClientFilesInspector.Result(sslmode: .require, reader: reader,
                                                findings: [.keyLoaded(key, .init(mode: 0o600, owner: 1000, ownerName: "app"), encrypted: false)])
        XCTAssertEqual(owned.checks.map(\.status), [.pass])
        XCTAssertEqual(owned.warnings.map(\.code), [.defaultFileUsed], "a default key file is named in a warning")
    }
}
