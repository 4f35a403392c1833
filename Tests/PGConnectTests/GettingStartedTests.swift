import Foundation
import PGTestSupport
import XCTest

/// The snippets of PGConnect.docc/GettingStarted.md are real files (`Snippets/`, compiled by
/// `swift build`, embedded with `@Snippet`): run here against the test server, where their hidden
/// lines point them (SNIPPET_HOST, SNIPPET_PORT, SNIPPET_PKI).
final class GettingStartedTests: XCTestCase {
    func run(_ snippet: String) throws -> ProcessOutcome {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        var directory = Bundle.main.bundleURL
        if !FileManager.default.fileExists(atPath: directory.appendingPathComponent(snippet).path) {
            directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        let binary = directory.appendingPathComponent(snippet).path
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), "swift build --build-tests builds the snippet \(snippet)")
        return try ProcessRunner.run([binary], environment: ["SNIPPET_HOST": server.host, "SNIPPET_PORT": String(server.port),
                                                             "SNIPPET_PKI": server.pki], timeout: 60)
    }

    func testTheGettingStartedSnippetsRunAgainstTheServer() throws {
        let outcome = try run("GettingStarted")
        XCTAssertEqual(outcome.status, 0, outcome.stdout + outcome.stderr)
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasPrefix("1 gear ") ?? false, "the query printed its row: \(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("TLSv1.") }, "the TLS session: \(lines)")
        XCTAssertTrue(lines.contains("jobs ready"), "the notification: \(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("roles: ") && $0 != "roles: 0" }, "the pooled query: \(lines)")
        XCTAssertTrue(lines.contains("ready: true"), "the readiness check: \(lines)")
    }

    func testTheServiceGroupSnippetStopsOnSIGTERMAfterTheLease() throws {
        let outcome = try run("RunningAsAService")
        XCTAssertEqual(outcome.status, 0, outcome.stdout + outcome.stderr)
        XCTAssertFalse(outcome.timedOut)
        XCTAssertEqual(outcome.stdout, "leased: 42\nshut down; open connections: 0\n")
    }
}
