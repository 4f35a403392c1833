import PGConnect
import XCTest
@testable import PGDiagnostics

final class ReportRenderingTests: XCTestCase {
    let target = Report.Target(host: "127.0.0.1", port: "5432", user: "alice", dbname: "postgres", sslmode: "verify-full",
                               conninfo: "user=alice password=***")

    func testJSONFieldsFollowTheContract() throws {
        let report = Report(outcome: .connected, target: target, timingsMilliseconds: [("dns", 0.1), ("total", 5)])
        let json = JSONReportRenderer(pretty: false).render(report)
        XCTAssertTrue(json.hasPrefix(#"{"schema_version":1,"ok":true,"outcome":"connected","target":{"host":"127.0.0.1""#), json)
        XCTAssertTrue(json.contains(#""diagnosis":null"#))
        XCTAssertTrue(json.contains(#""timings_ms":{"dns":0.1,"total":5}"#), json)
        XCTAssertFalse(json.contains("hba_line"))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(json.utf8)))
    }

    func testHBALineAppearsOnlyWhenKnown() {
        var diagnosis = Report.Diagnosis(code: .certNameMismatch, layer: .authentication, summary: "s", explanation: "e")
        XCTAssertFalse(JSONReportRenderer().render(Report(outcome: .refused, target: target, diagnosis: diagnosis)).contains("hba_line"))
        diagnosis.hbaLine = .init(file: "pg_hba.conf", line: 5, text: "hostssl all all 127.0.0.1/32 cert")
        diagnosis.identMap = "certmap"
        let json = JSONReportRenderer(pretty: false).render(Report(outcome: .refused, target: target, diagnosis: diagnosis))
        XCTAssertTrue(json.contains(#""hba_line":{"file":"pg_hba.conf","line":5,"text":"hostssl all all 127.0.0.1/32 cert"},"ident_map":"certmap""#), json)
    }

    func testJSONEscapesControlCharacters() {
        XCTAssertEqual(JSONValue.string("a\"b\\c\n\u{1}").serialized(), #""a\"b\\c\n\u0001""#)
    }

    func testExitStatusFollowsTheOutcome() {
        let expected: [Report.Outcome: Int32] = [.connected: 0, .refused: 1, .unreachable: 2, .localSetup: 3, .notAttempted: 4]
        for (outcome, status) in expected {
            XCTAssertEqual(Report(outcome: outcome, target: target).exitStatus, status, "\(outcome)")
        }
        // A --no-connect check that predicts a failure: the setup it was given cannot work.
        let predicted = Report(outcome: .notAttempted, target: target,
                               diagnosis: .init(code: .hbaNoEntry, layer: .authentication, summary: "", explanation: ""))
        XCTAssertEqual(predicted.exitStatus, 3)
        XCTAssertFalse(predicted.ok)
        XCTAssertFalse(Report(outcome: .notAttempted, target: target).ok, "a check that sent nothing never reports a connection")
    }

    func testTextReportOfACheckThatDidNotConnectNeverSaysConnected() {
        let text = TextReportRenderer().render(Report(outcome: .notAttempted, target: target))
        XCTAssertFalse(text.contains("Connected"), text)
        XCTAssertTrue(text.contains("Not attempted"), text)
        let json = JSONReportRenderer(pretty: false).render(Report(outcome: .notAttempted, target: target))
        XCTAssertTrue(json.contains(#""ok":false,"outcome":"not-attempted""#), json)
    }

    func testTextReportShowsDiagnosisEvidenceAndFix() {
        let report = Report(outcome: .refused, target: target,
                            checks: [.init(layer: .tls, id: "tls-handshake", status: .fail, summary: "untrusted")],
                            diagnosis: .init(code: .serverCertUntrusted, layer: .tls, summary: "Not trusted", explanation: "Because.",
                                             evidence: ["seen"], fixes: ["do this"], libpqMessage: "SSL error: certificate verify failed"))
        let text = TextReportRenderer().render(report)
        for needle in ["✘ tls", "Not trusted", "[server-cert-untrusted, layer tls]", "Evidence", "• seen", "Fix", "• do this",
                       "SSL error: certificate verify failed"] {
            XCTAssertTrue(text.contains(needle), "missing \(needle) in\n\(text)")
        }
        XCTAssertFalse(text.contains("\u{1B}["))
        XCTAssertTrue(TextReportRenderer(colour: true).render(report).contains("\u{1B}["))
    }
}
