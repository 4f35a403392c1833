import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect

final class QueryTests: XCTestCase {
    var connection: Connection!

    override func setUp() async throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        connection = try await Connection.connect(server.options(), timeout: .seconds(10))
    }

    override func tearDown() async throws {
        await connection?.close()
    }

    func testParameterisedQueryWithTypedAccessors() async throws {
        let when = Date(timeIntervalSince1970: 1_700_000_000.25)
        let result = try await connection.query(
            "SELECT $1::text AS t, $2::int8 AS i, $3::bool AS b, $4::float8 AS d, $5::bytea AS x, $6::timestamptz AS ts, $7::int AS n, $8::date AS day",
            ["it's a \"test\" ✓", Int64(9_007_199_254_740_993), true, 2.5, ByteaParameter([0, 1, 0xFE, 0xFF]), when, nil, "2024-02-29"])
        XCTAssertEqual(result.count, 1)
        XCTAssertEqual(result.columns.map(\.name), ["t", "i", "b", "d", "x", "ts", "n", "day"])
        XCTAssertEqual(result.columns[1].typeOID, 20)
        let row = result[0]
        XCTAssertEqual(row["t"]?.string, "it's a \"test\" ✓")
        XCTAssertEqual(row["i"]?.int64, 9_007_199_254_740_993)
        XCTAssertEqual(row["b"]?.bool, true)
        XCTAssertEqual(row["d"]?.double, 2.5)
        XCTAssertEqual(row["x"]?.bytes, [0, 1, 0xFE, 0xFF])
        XCTAssertEqual(row["ts"]?.date?.timeIntervalSince1970 ?? 0, when.timeIntervalSince1970, accuracy: 0.000_001)
        XCTAssertEqual(row["n"]?.isNull, true)
        XCTAssertNil(row["n"]?.int)
        XCTAssertEqual(row["day"]?.date, Date(timeIntervalSince1970: 1_709_164_800))
        XCTAssertNil(row["missing"])
        XCTAssertEqual(result.commandTag, "SELECT 1")
    }

    func testParametersAreNeverInterpolated() async throws {
        let hostile = "'; DROP TABLE x; --"
        let result = try await connection.query("SELECT $1::text = $2::text", [hostile, hostile])
        XCTAssertEqual(result[0][0].bool, true)
    }

    func testManyRowsAndSpecialFloats() async throws {
        let result = try await connection.query("SELECT g, CASE g WHEN -1 THEN '-Infinity'::float8 WHEN 0 THEN 'NaN' ELSE 'Infinity' END FROM generate_series(-1, 1) g WHERE $1", [true])
        XCTAssertEqual(result.count, 3)
        XCTAssertEqual(result.map { $0[0].int }, [-1, 0, 1])
        XCTAssertEqual(result[0][1].double, -.infinity)
        XCTAssertTrue(result[1][1].double?.isNaN ?? false)
    }

    func testServerErrorCarriesSQLStateDetailAndHint() async throws {
        do {
            _ = try await connection.query("SELECT 1 / $1::int", [0])
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .server)
            XCTAssertEqual(error.sqlState, "22012")
            XCTAssertEqual(error.severity, "ERROR")
            XCTAssertEqual(error.primaryMessage, "division by zero")
            XCTAssertEqual(error.phase, .query)
        }
        // The connection stays usable after a server error.
        let after = try await connection.query("SELECT 2")
        XCTAssertEqual(after[0][0].int, 2)
    }

    func testCancellingAQueryStopsItOnTheServer() async throws {
        let connection = self.connection!
        try await assertCancellationStops(within: .seconds(5)) { try await connection.query("SELECT pg_sleep(30)") }
        let after = try await connection.query("SELECT 3")
        XCTAssertEqual(after[0][0].int, 3, "usable after cancellation")
    }

    /// Queries from many tasks share one connection: each gets its own answer, whether it ran on
    /// the caller's thread (gate free, fast answer) or waited its turn on the connection's queue.
    func testConcurrentQueriesOnOneConnectionEachGetTheirOwnAnswer() async throws {
        let connection = self.connection!
        let answers = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for i in 0..<60 {
                group.addTask {
                    // Every fifth query outlasts the inline wait and finishes on the queue.
                    let sql = i % 5 == 0 ? "SELECT $1::int FROM pg_sleep(0.005)" : "SELECT $1::int"
                    return (i, try await connection.query(sql, [i])[0][0].int)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(answers.count, 60)
        for (i, answer) in answers { XCTAssertEqual(answer, i) }
        XCTAssertFalse(connection.isClosed)
    }

    /// A query that waits for the server (by default: any wait, on the connection's queue) must not hold
    /// a cooperative thread: with more slow queries than the pool has threads, other tasks still run.
    func testSlowQueriesDoNotHoldTheCooperativePool() async throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the test server") }
        let connections = try await withThrowingTaskGroup(of: Connection.self) { group in
            for _ in 0..<4 { group.addTask { try await Connection.connect(server.options(), timeout: .seconds(10)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let slow = connections.map { connection in
            Task { try await connection.query("SELECT pg_sleep(0.6)") }
        }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        let quick = try await connection.query("SELECT 7")
        let waited = ContinuousClock.now - start
        XCTAssertEqual(quick[0][0].int, 7)
        XCTAssertLessThan(waited, .milliseconds(300), "a quick query waited for the slow ones")
        for task in slow { _ = try await task.value }
        for connection in connections { await connection.close() }
    }

    /// By default nothing waits on the calling thread; a query spins for its answer only while the
    /// connection's answers come within the spin limit, and a slow one is forgotten after a few quick ones.
    func testQueriesSpinOnlyWhileAnswersAreQuick() async throws {
        XCTAssertEqual(connection.inlineWait, .zero)
        var pace = AnswerPace()
        XCTAssertTrue(pace.isQuick, "a new connection tries")
        pace.record(.microseconds(40))
        XCTAssertTrue(pace.isQuick)
        pace.record(.seconds(2))
        XCTAssertFalse(pace.isQuick, "a slow answer: the next query goes straight to the queue")
        for _ in 0..<3 { pace.record(.microseconds(30)) }
        XCTAssertTrue(pace.isQuick, "quick again after three quick answers")
        for _ in 0..<8 { pace.record(QueryOperation.spinLimit + .microseconds(50)) }
        XCTAssertFalse(pace.isQuick, "answers just past the limit: no spinning")
        // A query spins, a slow one goes to the queue, and the connection answers as before.
        let quick = try await connection.query("SELECT 1")
        let slow = try await connection.query("SELECT 2 FROM pg_sleep(0.01)")
        let after = try await connection.query("SELECT 3")
        XCTAssertEqual([quick[0][0].int, slow[0][0].int, after[0][0].int], [1, 2, 3])
    }

    /// A connection allowed to wait long on the calling thread (a one-shot tool's choice) still
    /// stops a query when its task is cancelled: long inline waits watch the wake-up pipe.
    func testALongInlineWaitStillCancels() async throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the test server") }
        let connection = try await Connection.connect(server.options(), timeout: .seconds(10), inlineWait: .seconds(30))
        XCTAssertEqual(connection.inlineWait, .seconds(30))
        let slow = try await connection.query("SELECT 1 FROM pg_sleep(0.01)")
        XCTAssertEqual(slow[0][0].int, 1, "waits inline past 1 ms")
        try await assertCancellationStops(within: .seconds(5)) { try await connection.query("SELECT pg_sleep(30)") }
        let after = try await connection.query("SELECT 2")
        XCTAssertEqual(after[0][0].int, 2, "usable after cancellation")
        await connection.close()
    }

    func testCommandTagsAndAffectedRows() async throws {
        _ = try await connection.query("CREATE TEMP TABLE t (v int)")
        let insert = try await connection.query("INSERT INTO t SELECT generate_series(1, $1::int)", [5])
        XCTAssertEqual(insert.affectedRows, 5)
        XCTAssertEqual(insert.commandTag, "INSERT 0 5")
        XCTAssertTrue(insert.isEmpty)
    }

    func testQueryOnClosedConnectionThrows() async throws {
        await connection.close()
        do {
            _ = try await connection.query("SELECT 1")
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .connectionClosed)
        }
    }

    /// `.int`/`.int64`/`.int32` read libpq's buffer directly; they must agree with the standard
    /// library's `Int(String)` on every text, including the edges.
    func testIntegerAccessorsAgreeWithTheStandardLibrary() {
        var texts = ["", "+", "-", "0", "-0", "+0", "007", "12a", " 1", "1 ", "1e3", "0x10", "٣", "--1", "+-1",
                     "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                     "2147483647", "2147483648", "-2147483648", "-2147483649", "99999999999999999999999"]
        var generator = SeededGenerator(seed: 42)
        let alphabet = Array("0123456789+- a")
        for _ in 0..<5000 {
            texts.append(String((0..<Int.random(in: 0...21, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for text in texts {
            var utf8 = Array(text.utf8)
            utf8.withUnsafeMutableBufferPointer { buffer in
                let bytes = UnsafeBufferPointer(buffer)
                XCTAssertEqual(Field.integer(bytes) as Int?, Int(text), text)
                XCTAssertEqual(Field.integer(bytes) as Int64?, Int64(text), text)
                XCTAssertEqual(Field.integer(bytes) as Int32?, Int32(text), text)
            }
        }
    }

    func testTimestampParsingAndFormatting() {
        XCTAssertEqual(PostgresTimestamp.parse("2024-01-02 03:04:05.5+05:30")?.timeIntervalSince1970, 1704144845.5)
        XCTAssertEqual(PostgresTimestamp.parse("1970-01-01 00:00:00")?.timeIntervalSince1970, 0)
        XCTAssertNil(PostgresTimestamp.parse("infinity"))
        XCTAssertEqual(PostgresTimestamp.format(Date(timeIntervalSince1970: 0.5)), "1970-01-01 00:00:00.500000+00")
    }
}
