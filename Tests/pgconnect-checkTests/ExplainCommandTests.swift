import Foundation
import PGTestSupport
import XCTest

/// `pgconnect-check explain` on messages the real server produced moments before.
final class ExplainCommandTests: XCTestCase {
    func testExplainsTheMessageALiveFailureProduced() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let failed = try CLIRun.run(["--format", "json", server.conninfo(user: "bob", certificate: "alice")])
        let message = try XCTUnwrap(failed.diagnosis?["libpq_message"] as? String)
        let explained = try CLIRun.run(["explain", "--format", "json", message])
        XCTAssertEqual(explained.status, 0)
        let findings = try XCTUnwrap(explained.json?["findings"] as? [[String: Any]])
        let codes = (findings.first?["causes"] as? [[String: Any]])?.compactMap { $0["code"] as? String }
        XCTAssertEqual(codes, ["cert-name-mismatch", "ident-map-no-match"])
    }

    func testReadsStandardInputAndSaysWhenNothingIsRecognised() throws {
        let process = Process()
        process.executableURL = CLIRun.binary
        process.arguments = ["explain"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("psql: error: SSL error: tlsv1 alert unknown ca\n".utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(text.contains("client-cert-chain-incomplete"), text)
        let unknown = try CLIRun.run(["explain", "everything is fine"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stdout.hasPrefix("Not recognised"))
    }
}
