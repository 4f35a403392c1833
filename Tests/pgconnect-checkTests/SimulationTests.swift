import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// `--hba/--ident`, `--admin` and `--no-connect` against the test server's real pg_hba.conf and
/// pg_ident.conf: the diagnosis becomes exact and names the line and the map.
final class SimulationTests: XCTestCase {
    var server: TestServer!
    var dataDirectory: String!
    var scratch: URL!

    override func setUp() async throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil,
              let data = server.dataDirectory else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh")
        }
        self.server = server
        dataDirectory = data
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    var hba: String { "\(dataDirectory!)/pg_hba.conf" }
    var ident: String { "\(dataDirectory!)/pg_ident.conf" }
    var admin: String { "host=\(server.socketDirectory) port=\(server.port) user=postgres dbname=postgres" }

    func conninfo(user: String, dbname: String, sslmode: String = "verify-full") -> String {
        var options = ConnectionOptions()
        options.host = ["127.0.0.1"]
        options.port = [server.port]
        options.user = user
        options.dbname = dbname
        options["sslmode"] = sslmode
        options.sslrootcert = "\(server.fixtures)/main/root.crt"
        options.sslcert = "\(server.fixtures)/main/alice.crt"
        options.sslkey = "\(server.fixtures)/main/alice.key"
        return (try? options.conninfoString()) ?? ""
    }

    func lineNumber(of fragment: String, in path: String) throws -> Int {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        return try XCTUnwrap(lines.firstIndex { $0.contains(fragment) }) + 1
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIRun {
        try CLIRun.run(["--format", "json"] + arguments, environment: environment)
    }

    func testFilesMakeMapFailuresExactWithLineAndMap() throws {
        for source in [["--hba", hba, "--ident", ident], ["--admin", admin]] {
            let dn = try run([conninfo(user: "bob", dbname: "dndb")] + source)
            XCTAssertEqual(dn.status, 1)
            XCTAssertEqual(dn.diagnosis?["code"] as? String, "ident-map-no-match", dn.stdout)
            let line = dn.diagnosis?["hba_line"] as? [String: Any]
            XCTAssertEqual(line?["line"] as? Int, try lineNumber(of: "hostssl dndb", in: hba))
            XCTAssertTrue((line?["text"] as? String)?.contains("clientname=DN map=dnmap") ?? false)
            XCTAssertEqual(dn.diagnosis?["ident_map"] as? String, "dnmap")
            XCTAssertTrue((dn.diagnosis?["fixes"] as? [String])?.first?.contains("dnmap \"CN=alice,O=pgconnect\" bob") ?? false,
                          "\(dn.diagnosis?["fixes"] ?? "")")

            let map = try run([conninfo(user: "alice", dbname: "mapdb")] + source)
            XCTAssertEqual(map.diagnosis?["code"] as? String, "ident-map-no-match")
            XCTAssertEqual(map.diagnosis?["ident_map"] as? String, "certmap")

            let noMap = try run([conninfo(user: "bob", dbname: "postgres")] + source)
            XCTAssertEqual(noMap.diagnosis?["code"] as? String, "cert-name-mismatch")
            XCTAssertNil(noMap.diagnosis?["ident_map"], "no map on that line")
            XCTAssertEqual((noMap.diagnosis?["hba_line"] as? [String: Any])?["line"] as? Int,
                           try lineNumber(of: "hostssl all       all", in: hba))
        }
    }

    func testRightPasswordWithAnotherUsersCertificateIsNamedExactly() throws {
        let result = try run([conninfo(user: "bob", dbname: "pwdb"), "--hba", hba, "--ident", ident],
                             environment: ["PGPASSWORD": "bob-test-secret-pw"])
        XCTAssertEqual(result.diagnosis?["code"] as? String, "cert-name-mismatch", result.stdout)
        XCTAssertEqual((result.diagnosis?["hba_line"] as? [String: Any])?["line"] as? Int, try lineNumber(of: "hostssl pwdb", in: hba))
        XCTAssertFalse(result.stdout.contains("bob-test-secret-pw"))
    }

    func testPlaintextAgainstHostsslOnlyRules() throws {
        let result = try run([conninfo(user: "alice", dbname: "postgres", sslmode: "disable"), "--hba", hba])
        XCTAssertEqual(result.diagnosis?["code"] as? String, "hba-no-entry")
        XCTAssertNil(result.diagnosis?["hba_line"])
        let evidence = (result.diagnosis?["evidence"] as? [String] ?? []).joined(separator: "\n")
        XCTAssertTrue(evidence.contains("no encryption"), evidence)
    }

    func testNoConnectPredictsFromTheFilesAlone() throws {
        let refused = try run([conninfo(user: "bob", dbname: "dndb"), "--hba", hba, "--ident", ident, "--no-connect"])
        // A prediction, not the server's refusal: the setup it was given cannot work (exit 3).
        XCTAssertEqual(refused.status, 3)
        XCTAssertEqual(refused.json?["outcome"] as? String, "not-attempted")
        XCTAssertEqual(refused.diagnosis?["code"] as? String, "ident-map-no-match")
        XCTAssertNil(refused.diagnosis?["libpq_message"] as? String, "nothing was asked of libpq")
        let accepted = try run([conninfo(user: "alice", dbname: "dndb"), "--hba", hba, "--ident", ident, "--no-connect"])
        // Nothing found that stops the login, and nothing sent: never "connected" (exit 4, ok false).
        XCTAssertEqual(accepted.status, 4, accepted.stdout)
        XCTAssertEqual(accepted.json?["ok"] as? Bool, false)
        XCTAssertEqual(accepted.json?["outcome"] as? String, "not-attempted")
        let checks = accepted.json?["checks"] as? [[String: Any]] ?? []
        XCTAssertTrue(checks.contains { $0["id"] as? String == "tcp-connect" && $0["status"] as? String == "skip" })
        XCTAssertTrue(checks.contains { $0["id"] as? String == "hba-simulation" && $0["status"] as? String == "pass" })
        // Another client address: no line covers it.
        let elsewhere = try run([conninfo(user: "alice", dbname: "dndb"), "--hba", hba, "--no-connect", "--client-addr", "127.0.0.9"])
        XCTAssertEqual(elsewhere.diagnosis?["code"] as? String, "hba-no-entry")
    }

    func testSimulationThatDisagreesWithTheServerSaysSo() throws {
        // A copy that lets alice into mapdb by trust: not what the server runs.
        let edited = try String(contentsOfFile: hba, encoding: .utf8)
            .replacingOccurrences(of: "cert map=certmap", with: "trust")
        let copy = scratch.appendingPathComponent("pg_hba.conf").path
        try edited.write(toFile: copy, atomically: true, encoding: .utf8)
        let result = try run([conninfo(user: "alice", dbname: "mapdb"), "--hba", copy, "--ident", ident])
        XCTAssertEqual(result.status, 1)
        let evidence = (result.diagnosis?["evidence"] as? [String] ?? []).joined(separator: "\n")
        XCTAssertTrue(evidence.contains("not reloaded") || evidence.contains("pg_reload_conf"), evidence)
    }

    func testUsageErrorsForSimulationOptions() throws {
        XCTAssertEqual(try CLIRun.run(["--ident", ident, "host=x"]).status, 64)
        XCTAssertEqual(try CLIRun.run(["--hba", hba, "--admin", admin, "host=x"]).status, 64)
        XCTAssertEqual(try CLIRun.run(["--client-addr", "not-an-address", "host=x"]).status, 64)
    }
}
