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

    func conninfo(user: String = "alice", dbname: String = "postgres", certificate: String = "alice",
                  sslmode: String = "verify-full", password: String? = nil) -> String {
        var options = ConnectionOptions()
        options.host = ["127.0.0.1"]
        options.port = [server.port]
        options.user = user
        options.dbname = dbname
        options["sslmode"] = sslmode
        options.sslrootcert = "\(server.fixtures)/main/root.crt"
        options.sslcert = "\(server.fixtures)/main/\(certificate).crt"
        options.sslkey = "\(server.fixtures)/main/\(certificate).key"
        options.password = password
        return (try? options.conninfoString()) ?? ""
    }

    @discardableResult
    func expect(_ code: String, layer: String, status: Int32 = 1, _ arguments: [String], environment: [String: String] = [:],
                file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
        let result = try CLIRun.run(["--format", "json"] + arguments, environment: environment)
        XCTAssertEqual(result.diagnosis?["code"] as? String, code, "\(result.stdout)\n\(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.diagnosis?["layer"] as? String, layer, file: file, line: line)
        XCTAssertEqual(result.status, status, file: file, line: line)
        for secret in [Self.alicePassword, Self.bobPassword, "wrong-test-secret"] {
            XCTAssertFalse(result.stdout.contains(secret) || result.stderr.contains(secret), "a password leaked", file: file, line: line)
        }
        return result
    }

    func succeeds(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try CLIRun.run(["--format", "json"] + arguments)
        XCTAssertEqual(result.status, 0, result.stdout, file: file, line: line)
    }

    func testNoMatchingLineWithoutEncryption() throws {
        let result = try expect("hba-no-entry", layer: "authentication", [conninfo(sslmode: "disable")])
        XCTAssertTrue((result.diagnosis?["summary"] as? String)?.contains("no encryption") ?? false)
    }

    func testRejectLine() throws {
        try expect("hba-reject", layer: "authentication", [conninfo(dbname: "rejectdb")])
    }

    func testPasswordLineWithoutPassword() throws {
        try expect("password-required", layer: "authentication", [conninfo(dbname: "pwdb")])
    }

    func testWrongPassword() throws {
        try expect("password-failed", layer: "authentication", [conninfo(dbname: "pwdb", password: "wrong-test-secret")])
        try succeeds([conninfo(dbname: "pwdb", password: Self.alicePassword)])
    }

    func testRightPasswordWithCertificateOfAnotherUserUnderVerifyFull() throws {
        let result = try expect("password-failed", layer: "authentication", [conninfo(user: "bob", dbname: "pwdb")],
                                environment: ["PGPASSWORD": Self.bobPassword])
        XCTAssertTrue((result.diagnosis?["explanation"] as? String)?.contains("clientcert=verify-full") ?? false,
                      "names the CN mismatch it could not rule out")
    }

    func testTrustLineWithVerifyFullAndCertificateOfAnotherUser() throws {
        try expect("cert-name-mismatch", layer: "authentication", [conninfo(user: "bob", dbname: "trustdb")])
        try succeeds([conninfo(dbname: "trustdb")])
    }

    func testCertWithoutMapAndCNOtherThanUser() throws {
        try expect("cert-name-mismatch", layer: "authentication", [conninfo(user: "bob")])
    }

    func testExactMapAndMapWithoutAMatchingLine() throws {
        try succeeds([conninfo(user: "bob", dbname: "mapdb")])
        try expect("ident-map-no-match", layer: "authentication", [conninfo(user: "alice", dbname: "mapdb")])
    }

    func testDNMapWithClientnameDN() throws {
        try succeeds([conninfo(user: "alice", dbname: "dndb")])
        try expect("cert-name-mismatch", layer: "authentication", [conninfo(user: "bob", dbname: "dndb")])
    }

    func testMissingRole() throws {
        try expect("role-missing", layer: "authorization", [conninfo(user: "ghost")])
    }

    func testRoleThatCannotLogIn() throws {
        try expect("role-cannot-login", layer: "authorization", [conninfo(user: "locked")])
    }

    func testMissingDatabase() throws {
        try expect("database-missing", layer: "authorization", [conninfo(dbname: "nosuchdb")])
    }

    func testRevokedConnectPrivilege() throws {
        try expect("connect-denied", layer: "authorization", [conninfo(dbname: "closeddb")])
    }

    func testServerWithoutCAFileNeverAsksForTheCertificate() async throws {
        try await server.withSettings(["ssl_ca_file": ""]) {
            try expect("server-no-ca", layer: "authentication", [conninfo()])
        }
    }
}
