import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect

/// libpq's `connect_timeout`, compared with the real psql 15 (libpq's blocking connect) on the
/// same listeners: the same message, code `.timeout`, and a duration within `tolerance` of psql's.
/// psql runs beside our connect, so each comparison costs one timeout, not two.
final class ConnectTimeoutTests: XCTestCase {
    var server: TestServer!
    var psqlPath: String!
    /// How far our duration may be from psql's (psql's also includes starting a process).
    let tolerance: Duration = .milliseconds(700)

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
        let candidates = [server.binDirectory.map { "\($0)/psql" }, "/usr/bin/psql"].compactMap { $0 }
        guard let psql = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("needs psql (PGCONNECT_PG_BINDIR or /usr/bin/psql)")
        }
        psqlPath = psql
    }

    // MARK: Where connect_timeout comes from

    func testConnectTimeoutInTheConninfoEndsTheAttemptAsPsqlDoes() async throws {
        let silent = try SilentListener()
        let conninfo = "host=127.0.0.1 port=\(silent.port) user=u dbname=d sslmode=require connect_timeout=2"
        let (ours, psql) = try await compare(conninfo)
        let error = try XCTUnwrap(ours.error)
        XCTAssertEqual(error.code, .timeout)
        XCTAssertEqual(error.phase, .connecting, "TCP connected and the SSLRequest got no answer: the server never spoke, still the network")
        XCTAssertEqual(error.message, "connection to server at \"127.0.0.1\", port \(silent.port) failed: timeout expired\n")
        XCTAssertEqual(psql.errorLine, "psql: error: " + error.message.trimmingWhitespace())
        assertClose(ours.duration, psql.duration, around: .seconds(2))
    }

    func testConnectTimeoutOfOneIsRaisedToTwoAsInLibpq15() async throws {
        let silent = try SilentListener()
        let conninfo = "host=127.0.0.1 port=\(silent.port) user=u dbname=d sslmode=require connect_timeout=1"
        let (ours, psql) = try await compare(conninfo)
        XCTAssertEqual(ours.error?.code, .timeout)
        XCTAssertEqual(psql.errorLine, "psql: error: " + (ours.error?.message.trimmingWhitespace() ?? ""))
        XCTAssertGreaterThan(psql.duration, .milliseconds(1500), "libpq 15 waits 2 s for connect_timeout=1")
        assertClose(ours.duration, psql.duration, around: .seconds(2))
    }

    func testPGCONNECT_TIMEOUTFromTheEnvironment() async throws {
        let silent = try SilentListener()
        let conninfo = "host=127.0.0.1 port=\(silent.port) user=u dbname=d sslmode=require"
        let (ours, psql) = try await withEnvironment(["PGCONNECT_TIMEOUT": "2"]) {
            try await compare(conninfo, environment: ["PGCONNECT_TIMEOUT": "2"])
        }
        XCTAssertEqual(ours.error?.code, .timeout)
        XCTAssertEqual(psql.errorLine, "psql: error: " + (ours.error?.message.trimmingWhitespace() ?? ""))
        assertClose(ours.duration, psql.duration, around: .seconds(2))
    }

    func testConnectTimeoutFromAServiceFile() async throws {
        let silent = try SilentListener()
        let directory = try temporaryDirectory()
        let file = "\(directory)/pg_service.conf"
        try "[slow]\nhost=127.0.0.1\nport=\(silent.port)\nconnect_timeout=2\n".write(toFile: file, atomically: true, encoding: .utf8)
        let conninfo = "service=slow user=u dbname=d sslmode=require"
        let (ours, psql) = try await withEnvironment(["PGSERVICEFILE": file]) {
            try await compare(conninfo, environment: ["PGSERVICEFILE": file])
        }
        XCTAssertEqual(ours.error?.code, .timeout)
        XCTAssertEqual(psql.errorLine, "psql: error: " + (ours.error?.message.trimmingWhitespace() ?? ""))
        assertClose(ours.duration, psql.duration, around: .seconds(2))
    }

    // MARK: Several hosts

    func testAfterTheFirstHostTimesOutTheSecondIsTried() async throws {
        let silent = try SilentListener()
        var options = server.options()
        options.host = [server.host, server.host]
        options.port = [silent.port, server.port]
        options.connectTimeout = 2
        let conninfo = try options.conninfoString()
        let (ours, psql) = try await compare(conninfo)
        XCTAssertEqual(psql.status, 0, psql.stderr)
        XCTAssertEqual(psql.stdout, "42")
        let connection = try XCTUnwrap(ours.connection, ours.error.map { "\($0)" } ?? "")
        let rows = try await connection.query("SELECT inet_server_port()")
        XCTAssertEqual(rows[0][0].int, server.port, "connected to the second host")
        await connection.close()
        assertClose(ours.duration, psql.duration, around: .seconds(2))
    }

    func testEverySilentHostTimesOutInTurnWithLibpqsAccumulatedMessage() async throws {
        let silent = try SilentListener()
        // With hostaddr: no lookup, the attempt starts on the calling thread (a long inline wait
        // keeps it there, new connection included). Without: "localhost" is looked up on the queue.
        for entries in ["host=127.0.0.1,localhost hostaddr=127.0.0.1,127.0.0.1", "host=127.0.0.1,localhost"] {
            let conninfo = "\(entries) port=\(silent.port) user=u dbname=d sslmode=require connect_timeout=2"
            let (ours, psql) = try await compare(conninfo, inlineWait: .seconds(30))
            let error = try XCTUnwrap(ours.error)
            XCTAssertEqual(error.code, .timeout)
            XCTAssertEqual(error.attempts.count, 2)
            if !entries.contains("hostaddr") {  // libpq names an entry by its hostaddr when it has one
                XCTAssertEqual(error.attempts.last?.target, "connection to server at \"localhost\" (127.0.0.1), port \(silent.port) failed")
            }
            XCTAssertEqual(psql.errorLine, "psql: error: " + error.message.trimmingWhitespace())
            assertClose(ours.duration, psql.duration, around: .seconds(4))
        }
    }

    func testASilentHostNameThenTheServer() async throws {
        let silent = try SilentListener()
        var options = server.options()
        options.host = ["localhost", server.host]
        options.port = [silent.port, server.port]
        options.connectTimeout = 2
        options["sslmode"] = "require"
        let conninfo = try options.conninfoString()
        let (ours, psql) = try await compare(conninfo)
        XCTAssertEqual(psql.status, 0, psql.stderr)
        XCTAssertNotNil(ours.connection, ours.error.map { "\($0)" } ?? "")
        await ours.connection?.close()
        assertClose(ours.duration, psql.duration, around: .seconds(2))
    }

    // MARK: Values libpq refuses or ignores

    func testAConnectTimeoutLibpqCannotParseFailsWithLibpqsMessage() async throws {
        let silent = try SilentListener()
        for value in ["abc", "2.5", "99999999999", "0x3"] {
            let conninfo = "host=127.0.0.1 port=\(silent.port) user=u dbname=d sslmode=require connect_timeout='\(value)'"
            let (ours, psql) = try await compare(conninfo)
            let error = try XCTUnwrap(ours.error, value)
            XCTAssertEqual(error.code, .invalidOptions, value)
            XCTAssertEqual(error.phase, .options, value)
            XCTAssertEqual(psql.errorLine, "psql: error: " + error.message.trimmingWhitespace(), value)
            XCTAssertTrue(error.message.hasSuffix("invalid integer value \"\(value)\" for connection option \"connect_timeout\"\n"), value)
            XCTAssertLessThan(ours.duration, .seconds(1), value)
        }
    }

    func testLibpqsIntegerParsing() {
        // parse_int_param: strtol base 10, surrounding whitespace, int range.
        let accepted: [(String, Int)] = [("2", 2), (" 2 ", 2), ("+2", 2), ("-1", -1), ("0", 0), ("2147483647", Int(Int32.max)), ("\t3\n", 3)]
        for (text, value) in accepted { XCTAssertEqual(ConnectTimeout.parseInt(text), value, text.debugDescription) }
        for text in ["", " ", "abc", "2.5", "2a", "0x3", "2147483648", "99999999999", "2 2"] {
            XCTAssertNil(ConnectTimeout.parseInt(text), text.debugDescription)
        }
    }

    func testZeroOrNegativeMeansNoLimitSoTheOverallLimitEndsIt() async throws {
        let silent = try SilentListener()
        for value in ["0", "-1"] {
            var options = try ConnectionOptions(conninfo: "host=127.0.0.1 port=\(silent.port) user=u dbname=d sslmode=require")
            options["connect_timeout"] = value
            do {
                _ = try await Connection.connect(options, timeout: .milliseconds(1500))
                XCTFail("must time out")
            } catch let error as ConnectionError {
                XCTAssertEqual(error.code, .overallTimeout, value)
                XCTAssertEqual(error.message, "no answer within the overall limit of 1.5 s while negotiating TLS (no connect_timeout was set)", value)
            }
        }
    }

    // MARK: The caller's overall limit

    func testTheOverallLimitIsToldApartFromLibpqsTimeout() async throws {
        let silent = try SilentListener()
        var options = try ConnectionOptions(conninfo: "host=127.0.0.1 port=\(silent.port) user=u dbname=d sslmode=require")
        do {
            _ = try await Connection.connect(options, timeout: .milliseconds(300))
            XCTFail("must time out")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .overallTimeout)
            XCTAssertEqual(error.phase, .tls)
            XCTAssertEqual(error.message, "no answer within the overall limit of 0.3 s while negotiating TLS (no connect_timeout was set)")
            XCTAssertFalse(error.message.contains("timeout expired"), "not libpq's words")
        }
        options.connectTimeout = 5
        do {
            _ = try await Connection.connect(options, timeout: .seconds(1))
            XCTFail("must time out")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .overallTimeout)
            XCTAssertEqual(error.message, "no answer within the overall limit of 1 s while negotiating TLS (libpq's connect_timeout of 5 s per host had not run out)")
        }
        // connect_timeout shorter than the overall limit: libpq's timeout, libpq's text.
        options.connectTimeout = 2
        do {
            _ = try await Connection.connect(options, timeout: .seconds(10))
            XCTFail("must time out")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .timeout)
            XCTAssertTrue(error.message.hasSuffix("failed: timeout expired\n"), error.message)
        }
    }

    // MARK: Helpers

    struct Ours {
        var connection: Connection?
        var error: ConnectionError?
        var duration: Duration
    }

    struct Psql {
        var status: Int32
        var stdout: String
        var stderr: String
        var duration: Duration
        /// psql's error, as it prints it (`psql: error: ` and libpq's message).
        var errorLine: String { stderr.trimmingWhitespace() }
    }

    /// Connects with `conninfo` through pgconnect (only libpq's connect_timeout limits it)
    /// while psql connects with the same conninfo and `environment` beside it.
    func compare(_ conninfo: String, environment: [String: String] = [:],
                 inlineWait: Duration = .zero) async throws -> (Ours, Psql) {
        let path: String = psqlPath
        async let psql = Self.runPsql(path, conninfo, environment: environment)
        let options = try ConnectionOptions(conninfo: conninfo)
        let start = ContinuousClock.now
        var ours = Ours(duration: .zero)
        do {
            // The overall limit only keeps a regression from hanging the suite; libpq's
            // connect_timeout must end every attempt here long before it.
            ours.connection = try await Connection.connect(options, timeout: .seconds(20), inlineWait: inlineWait)
        } catch let error as ConnectionError {
            ours.error = error
        }
        ours.duration = .now - start
        let result = try await psql
        print("connect_timeout comparison: pgconnect \(ours.duration), psql \(result.duration): \(conninfo)")
        return (ours, result)
    }

    static func runPsql(_ path: String, _ conninfo: String, environment: [String: String]) async throws -> Psql {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-X", "-w", "-Atc", "SELECT 42", conninfo]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let start = ContinuousClock.now
        let finished: Duration = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { _ in continuation.resume(returning: .now - start) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return Psql(status: process.terminationStatus, stdout: stdout.trimmingWhitespace(), stderr: stderr, duration: finished)
    }

    /// Runs `body` with `variables` set in this process (libpq reads them), restoring them after.
    /// XCTest runs one test at a time, so no other test sees them.
    func withEnvironment<T>(_ variables: [String: String], _ body: () async throws -> T) async rethrows -> T {
        let saved = variables.keys.map { ($0, getenv($0).map { String(cString: $0) }) }
        for (name, value) in variables { setenv(name, value, 1) }
        defer {
            for (name, value) in saved {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        return try await body()
    }

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "pgconnect-timeout-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func assertClose(_ ours: Duration, _ psql: Duration, around expected: Duration, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThan(abs(ours - psql), tolerance, "pgconnect \(ours) vs psql \(psql)", file: file, line: line)
        XCTAssertLessThan(abs(ours - expected), .seconds(1), "pgconnect \(ours), expected about \(expected)", file: file, line: line)
    }
}

private func abs(_ duration: Duration) -> Duration { duration < .zero ? .zero - duration : duration }
