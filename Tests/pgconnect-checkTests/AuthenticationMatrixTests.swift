import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// The authentication and authorization codes, each produced by the real condition on the test
/// server (pg_hba.conf/pg_ident.conf lines and roles from scripts/test.sh and test-server.sql).
final class AuthenticationMatrixTests: XCTestCase {
    var server: TestServer!
    static let alicePassword = "alice-test-secret-pw"
    static let bobPassword = "bob-test-secret-pw"

    override func setUp() async throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh (PGCONNECT_TEST_ENV, PGCONNECT_TEST_FIXTURES)")
        }
        self.server = server
    }

    /// The command line of the shared scenario `name` (CLIScenarios.swift, also run by LibpqVerdictTests).
    func scenario(_ name: String) throws -> CLIInvocation {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-auth-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return try CLIScenario.named(name).invocation(server: server, directory: directory)
    }

    @discardableResult
    func expect(_ code: String, layer: String, status: Int32 = 1, _ invocation: CLIInvocation,
                file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
        let result = try CLIRun.run(["--format", "json"] + invocation.arguments, environment: invocation.environment)
        XCTAssertEqual(result.diagnosis?["code"] as? String, code, "\(result.stdout)\n\(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.diagnosis?["layer"] as? String, layer, file: file, line: line)
        XCTAssertEqual(result.status, status, file: file, line: line)
        for secret in [Self.alicePassword, Self.bobPassword, "wrong-test-secret"] {
            XCTAssertFalse(result.stdout.contains(secret) || result.stderr.contains(secret), "a password leaked", file: file, line: line)
        }
        return result
    }

    func succeeds(_ invocation: CLIInvocation, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try CLIRun.run(["--format", "json"] + invocation.arguments, environment: invocation.environment)
        XCTAssertEqual(result.status, 0, result.stdout, file: file, line: line)
    }

    func testNoMatchingLineWithoutEncryption() throws {
        let result = try expect("hba-no-entry", layer: "authentication", try scenario("sslmode=disable, hostssl-only rules"))
        XCTAssertTrue((result.diagnosis?["summary"] as? String)?.contains("no encryption") ?? false)
    }

    func testRejectLine() throws {
        try expect("hba-reject", layer: "authentication", try scenario("reject line"))
    }

    func testPasswordLineWithoutPassword() throws {
        try expect("password-required", layer: "authentication", try scenario("password line without a password"))
    }

    func testWrongPassword() throws {
        try expect("password-failed", layer: "authentication", try scenario("password line, wrong password"))
        try succeeds(try scenario("password line, right password"))
    }

    func testRightPasswordWithCertificateOfAnotherUserUnderVerifyFull() throws {
        let result = try expect("password-failed", layer: "authentication", try scenario("password line, right PGPASSWORD, certificate of another user"))
        XCTAssertTrue((result.diagnosis?["explanation"] as? String)?.contains("clientcert=verify-full") ?? false,
                      "names the CN mismatch it could not rule out")
    }

    func testTrustLineWithVerifyFullAndCertificateOfAnotherUser() throws {
        try expect("cert-name-mismatch", layer: "authentication", try scenario("trust clientcert=verify-full, certificate of another user"))
        try succeeds(try scenario("trust clientcert=verify-full, own certificate"))
    }

    func testCertWithoutMapAndCNOtherThanUser() throws {
        try expect("cert-name-mismatch", layer: "authentication", try scenario("cert without map, CN other than user"))
    }

    func testExactMapAndMapWithoutAMatchingLine() throws {
        try succeeds(try scenario("cert map=certmap, mapped user"))
        try expect("ident-map-no-match", layer: "authentication", try scenario("cert map=certmap, unmapped user"))
    }

    func testDNMapWithClientnameDN() throws {
        try succeeds(try scenario("clientname=DN map, mapped user"))
        try expect("cert-name-mismatch", layer: "authentication", try scenario("clientname=DN map, unmapped user"))
    }

    func testMissingRole() throws {
        try expect("role-missing", layer: "authorization", try scenario("missing role"))
    }

    func testRoleThatCannotLogIn() throws {
        try expect("role-cannot-login", layer: "authorization", try scenario("role that cannot log in"))
    }

    func testMissingDatabase() throws {
        try expect("database-missing", layer: "authorization", try scenario("missing database"))
    }

    func testRevokedConnectPrivilege() throws {
        try expect("connect-denied", layer: "authorization", try scenario("CONNECT revoked"))
    }

    func testServerWithoutCAFileNeverAsksForTheCertificate() async throws {
        let scenario = CLIScenario.named("server without ssl_ca_file")
        let invocation = try self.scenario(scenario.name)
        try await server.withSettings(scenario.settings(server.fixtures)) {
            try expect("server-no-ca", layer: "authentication", invocation)
        }
    }
}
