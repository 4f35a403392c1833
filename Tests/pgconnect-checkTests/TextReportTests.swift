import Foundation
import PGTestSupport
import XCTest

/// Text reports of key scenarios, compared with reviewed expected files in Expected/ after
/// masking what changes from run to run (paths, ports, CA ids, dates, timings, versions, the
/// libpq and OpenSSL files).
/// To review a change: the actual text is written next to the expected file as `.actual`.
final class TextReportTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh")
        }
        self.server = server
    }

    static let expectedDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Expected")

    func mask(_ text: String) -> String {
        var text = text.replacingOccurrences(of: server.fixtures, with: "<fixtures>")
        let rules: [(String, String)] = [
            (#"port[= ]\d+"#, "port <port>"),
            (#":\d{4,5}\b"#, ":<port>"),
            (#"(Root|Intermediate) CA [0-9a-f]{8}"#, "$1 CA <id>"),
            (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, "<date>"),
            (#"\d+\.\d+ ms"#, "<ms> ms"),
            (#"PostgreSQL \d+\.\d+( \([^)]*\))?"#, "PostgreSQL <version>"),
            (#"LOCATION:  .*"#, "LOCATION:  <location>"),
            (#"\bserial\s+[0-9A-F]+"#, "serial <serial>"),
            (#"libpq \d+\.\d+ \([^)]*\)"#, "libpq <version> (<file>)"),
            (#"OpenSSL \d+\.\d+\.\d+\S* \d+ \w+ \d{4}"#, "OpenSSL <version>"),
        ]
        for (pattern, template) in rules {
            let regex = try! NSRegularExpression(pattern: pattern)
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        }
        return text
    }

    func compare(_ name: String, _ arguments: [String], status: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        // COLUMNS: no wrapping, so masked values cannot move line breaks.
        let result = try CLIRun.run(arguments, environment: ["NO_COLOR": "1", "COLUMNS": "1000"])
        XCTAssertEqual(result.status, status, result.stdout, file: file, line: line)
        let actual = mask(result.stdout)
        let expectedURL = Self.expectedDirectory.appendingPathComponent("\(name).txt")
        let actualURL = Self.expectedDirectory.appendingPathComponent("\(name).actual")
        guard let expected = try? String(contentsOf: expectedURL, encoding: .utf8) else {
            try actual.write(to: actualURL, atomically: true, encoding: .utf8)
            XCTFail("no expected file \(expectedURL.lastPathComponent); review \(actualURL.path) and rename it", file: file, line: line)
            return
        }
        if actual != expected {
            try actual.write(to: actualURL, atomically: true, encoding: .utf8)
            XCTFail("the report changed; compare \(actualURL.path) with \(expectedURL.path)", file: file, line: line)
        } else {
            try? FileManager.default.removeItem(at: actualURL)
        }
    }

    func conninfo(user: String = "alice", certificate: String = "main/alice") -> String {
        "host=127.0.0.1 port=\(server.port) dbname=postgres user=\(user) sslmode=verify-full sslrootcert=\(server.fixtures)/main/root.crt "
            + "sslcert=\(server.fixtures)/\(certificate).crt sslkey=\(server.fixtures)/\(certificate).key"
    }

    func testWorkingLogin() throws {
        try compare("working-login", [conninfo()], status: 0)
    }

    func testCertificateOfAnotherUser() throws {
        try compare("cert-name-mismatch", [conninfo(user: "bob")], status: 1)
    }

    func testCertificateFromAnUntrustedCA() throws {
        try compare("client-cert-unknown-ca", [conninfo(user: "stranger", certificate: "other/stranger")], status: 2)
    }

    func testMissingIntermediate() throws {
        try compare("client-cert-chain-incomplete",
                    ["host=127.0.0.1 port=\(server.port) dbname=postgres user=ivan sslmode=verify-full sslrootcert=\(server.fixtures)/main/root.crt "
                        + "sslcert=\(server.fixtures)/inter/ivan.leaf.crt sslkey=\(server.fixtures)/inter/ivan.key"], status: 2)
    }
}
