import Foundation
import PGTestSupport
import XCTest

/// `--targets FILE`: many logins at once, in input order, exit status the worst.
final class TargetsTests: XCTestCase {
    func testMixedTargetsGiveATableJSONLinesAndTheWorstStatus() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("targets-\(UUID()).txt").path
        try """
            # good, refused by the server, nothing listening
            \(server.conninfo())

            \(server.conninfo(user: "bob", certificate: "alice"))
            \(server.conninfo()) port=1
            """.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }

        let text = try CLIRun.run(["--targets", file, "--jobs", "2"])
        XCTAssertEqual(text.status, 2, "the worst of 0, 1 and 2")
        let lines = text.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 5, text.stdout)
        XCTAssertTrue(lines[1].contains(" ok ") && lines[2].contains("cert-name-mismatch") && lines[3].contains("connection-refused"), text.stdout)
        XCTAssertEqual(lines.last, "3 targets, 1 ok, 2 failed")

        let json = try CLIRun.run(["--targets", file, "--format", "json"], validatesSchema: false)
        let reports = json.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        XCTAssertEqual(reports.map { $0["ok"] as? Bool }, [true, false, false])
        for report in reports {
            XCTAssertEqual(SchemaValidator.report.validate(report), [], "each line is one report")
        }
    }

    func testUnparsableTargetLineIsAUsageErrorNamingTheLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("targets-\(UUID()).txt").path
        try "host=a\nsslcrt=/x\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try CLIRun.run(["--targets", file])
        XCTAssertEqual(result.status, 64)
        XCTAssertTrue(result.stderr.contains("line 2"), result.stderr)
    }
}
