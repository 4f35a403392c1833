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

    /// The server log of the two directions of a failed handshake (PostgreSQL 15 writes
    /// "could not accept SSL connection: …" for both): each line is read as the side that failed.
    func testExplainsTheServersLogLinesOfBothDirections() throws {
        guard let server = TestServer.shared, let data = server.dataDirectory else { throw XCTSkip("needs the server from scripts/test.sh") }
        let fixtures = server.fixtures
        let log = (data as NSString).deletingLastPathComponent + "/server.log"
        func lastServerLine(after run: () throws -> Void, containing needle: String) throws -> String {
            let before = (try? String(contentsOfFile: log, encoding: .utf8))?.utf8.count ?? 0
            try run()
            var line: String?
            for _ in 0..<50 where line == nil {  // the server writes its log line as it closes the connection
                let text = String(decoding: Array((try String(contentsOfFile: log, encoding: .utf8)).utf8.dropFirst(before)), as: UTF8.self)
                line = text.split(separator: "\n").last { $0.contains(needle) }.map(String.init)
                if line == nil { usleep(20_000) }
            }
            return try XCTUnwrap(line, "the server logged no line with \(needle)")
        }
        let base = "host=127.0.0.1 port=\(server.port) dbname=postgres sslmode=verify-full"
        // The client rejects the server's certificate (a root that did not issue it).
        let clientRejected = try lastServerLine(after: {
            _ = try CLIRun.run(["\(base) user=alice sslrootcert=\(fixtures)/other/root.crt sslcert=\(fixtures)/main/alice.crt sslkey=\(fixtures)/main/alice.key"])
        }, containing: "could not accept SSL connection")
        // The server rejects the client's certificate (a CA it does not trust).
        let serverRejected = try lastServerLine(after: {
            _ = try CLIRun.run(["\(base) user=stranger sslrootcert=\(fixtures)/main/root.crt sslcert=\(fixtures)/other/stranger.crt sslkey=\(fixtures)/other/stranger.key"])
        }, containing: "could not accept SSL connection")
        for (line, code) in [(clientRejected, "server-cert-untrusted"), (serverRejected, "client-cert-unknown-ca")] {
            let explained = try CLIRun.run(["explain", "--format", "json", line])
            let findings = explained.json?["findings"] as? [[String: Any]]
            let first = (findings?.first?["causes"] as? [[String: Any]])?.first?["code"] as? String
            XCTAssertEqual(first, code, line)
        }
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
