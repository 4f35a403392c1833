import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// The one-pass check path against the real server and real sockets: `--no-connect` sends
/// nothing (services included), a check that did not connect never says it did, libpq's
/// `connect_timeout` bounds the check as it bounds psql, "libpq said" is libpq's text only, and
/// the simulation's deciding line is on every diagnosis it decided.
final class OnePassTests: XCTestCase {
    var server: TestServer!
    var scratch: URL!

    override func setUp() async throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh")
        }
        self.server = server
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-onepass-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// Takes every connection the kernel completed for `listener` and returns how many there were.
    func acceptAll(_ listener: SilentListener) -> Int {
        let flags = fcntl(listener.fd, F_GETFL)
        _ = fcntl(listener.fd, F_SETFL, flags | O_NONBLOCK)
        var count = 0
        while true {
            let fd = accept(listener.fd, nil, nil)
            if fd < 0 { break }
            close(fd)
            count += 1
        }
        return count
    }

    func write(_ text: String, to name: String) throws -> String {
        let path = scratch.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testNoConnectSendsNothingEvenThroughAServiceFile() throws {
        let listener = try SilentListener()
        let services = try write("""
            [checked]
            host=127.0.0.1
            port=\(listener.port)
            user=alice
            dbname=postgres
            sslmode=disable
            connect_timeout=2
            """, to: "pg_service.conf")
        let hba = try write("host all all 127.0.0.1/32 trust\n", to: "pg_hba.conf")
        let environments: [(String, [String: String], [String])] = [
            ("PGSERVICE", ["PGSERVICEFILE": services, "PGSERVICE": "checked"], []),
            ("service=", ["PGSERVICEFILE": services], ["service=checked"]),
        ]
        for (name, environment, conninfo) in environments {
            let result = try CLIRun.run(["--format", "json", "--no-connect", "--hba", hba] + conninfo, environment: environment)
            XCTAssertEqual(acceptAll(listener), 0, "\(name): --no-connect opened a TCP connection")
            XCTAssertEqual(result.json?["outcome"] as? String, "not-attempted", "\(name): \(result.stdout)\(result.stderr)")
            XCTAssertEqual(result.json?["ok"] as? Bool, false, name)
            XCTAssertEqual(result.status, 4, name)
            XCTAssertEqual((result.json?["target"] as? [String: Any])?["port"] as? String, String(listener.port),
                           "\(name): the service's values were resolved")
            let text = try CLIRun.run(["--no-connect"] + conninfo, environment: environment)
            XCTAssertFalse(text.stdout.contains("Connected"), text.stdout)
            XCTAssertTrue(text.stdout.contains("Not attempted"), text.stdout)
            XCTAssertEqual(acceptAll(listener), 0, name)
        }
        // The same check with a connection: one attempt, bounded by the service's connect_timeout.
        let started = Date()
        let result = try CLIRun.run(["--format", "json"], environment: environments[0].1)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(acceptAll(listener), 1)
        XCTAssertEqual(result.json?["outcome"] as? String, "unreachable", result.stdout)
        XCTAssertEqual(result.diagnosis?["code"] as? String, "timeout")
        XCTAssertLessThan(elapsed, 6, "the service's connect_timeout=2 bounds the attempt")
    }

    /// `PGCONNECT_TIMEOUT` and `connect_timeout`: pgconnect-check gives up when psql does, with psql's words.
    func testConnectTimeoutFromTheEnvironmentMatchesPsql() throws {
        let psql = "\(server.binDirectory ?? "/usr/bin")/psql"
        guard FileManager.default.isExecutableFile(atPath: psql) else { throw XCTSkip("no psql at \(psql)") }
        let listener = try SilentListener()
        let conninfo = "host=127.0.0.1 port=\(listener.port) user=alice dbname=postgres sslmode=require"
        for (arguments, environment) in [([conninfo], ["PGCONNECT_TIMEOUT": "2"]), (["\(conninfo) connect_timeout=2"], [:])] {
            var started = Date()
            let check = try CLIRun.run(["--format", "json"] + arguments, environment: environment)
            let checkTime = Date().timeIntervalSince(started)
            started = Date()
            var psqlEnvironment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
            psqlEnvironment.merge(environment) { $1 }
            let reference = try ProcessRunner.run([psql, "-X", "-w", "-c", "select 1", arguments[0]], environment: psqlEnvironment,
                                                  timeout: 20)
            let psqlTime = Date().timeIntervalSince(started)
            _ = acceptAll(listener)
            XCTAssertEqual(check.status, 2, check.stdout)
            XCTAssertEqual(check.diagnosis?["code"] as? String, "timeout")
            XCTAssertEqual(abs(checkTime - psqlTime), 0, accuracy: 0.8, "pgconnect-check \(checkTime) s, psql \(psqlTime) s")
            let said = try XCTUnwrap(check.diagnosis?["libpq_message"] as? String)
            let psqlSaid = reference.stderr.replacingOccurrences(of: "psql: error: ", with: "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(said, psqlSaid, "\"libpq said\" is libpq's text, verbatim")
        }
    }

    func testRoleMissingCarriesTheDecidingHBALine() throws {
        guard let data = server.dataDirectory else { throw XCTSkip("needs the server's data directory") }
        var options = ConnectionOptions()
        options.host = ["127.0.0.1"]
        options.port = [server.port]
        options.user = "ghost"
        options.dbname = "postgres"
        options["sslmode"] = "verify-full"
        options.sslrootcert = "\(server.fixtures)/main/root.crt"
        let result = try CLIRun.run(["--format", "json", try options.conninfoString(), "--hba", "\(data)/pg_hba.conf",
                                     "--ident", "\(data)/pg_ident.conf"])
        XCTAssertEqual(result.diagnosis?["code"] as? String, "role-missing", result.stdout)
        XCTAssertEqual(result.json?["outcome"] as? String, "refused")
        let line = try XCTUnwrap(result.diagnosis?["hba_line"] as? [String: Any], "the simulation decided: its line is set")
        XCTAssertTrue((line["text"] as? String)?.contains("ghost,locked") ?? false, "\(line)")
    }
}
