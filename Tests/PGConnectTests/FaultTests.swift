import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect

/// Faults on loopback with real processes: nothing crashes, hangs or leaks, errors are typed.
final class FaultTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
    }

    func testServerStoppedDuringAQueryGivesATypedErrorAndReconnectWorksAfterwards() async throws {
        let connection = try await Connection.connect(server.options(), timeout: .seconds(10))
        let running = Task { try await connection.query("SELECT pg_sleep(30)") }
        try await Task.sleep(for: .milliseconds(200))
        try server.stopImmediately()
        do {
            _ = try await running.value
            XCTFail("the query cannot finish")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .connectionClosed, error.debugDescription)
            XCTAssertEqual(error.phase, .query)
        }
        try server.start()
        XCTAssertTrue(connection.isClosed, "the connection reports itself broken")
        let isAlive = await connection.isAlive()
        XCTAssertFalse(isAlive)
        await connection.close()
        let again = try await Connection.connect(server.options(), timeout: .seconds(10))
        let one = try await again.query("SELECT 1")
        XCTAssertEqual(one[0][0].int, 1)
        await again.close()
    }

    func testServerThatSendsGarbageAfterAgreeingToTLS() async throws {
        for behavior in [MisbehavingServer.Behavior.garbageAfterTLSYes, .closeAfterTLSYes, .closeMidHandshake, .closeImmediately] {
            let fake = try MisbehavingServer(behavior)
            var options = server.options()
            options.port = [fake.port]
            let start = ContinuousClock.now
            do {
                _ = try await Connection.connect(options, timeout: .seconds(5))
                XCTFail("\(behavior): must fail")
            } catch let error as ConnectionError {
                XCTAssertEqual(error.code, .connectionFailed, "\(behavior): \(error.message)")
                XCTAssertFalse(error.message.isEmpty)
            }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(3), "\(behavior): no hang")
        }
    }

    func testSilentPortTimesOutWithinConnectTimeoutPlusOneSecond() async throws {
        let silent = try SilentListener()
        var options = server.options()
        options.port = [silent.port]
        options.connectTimeout = 1
        let start = ContinuousClock.now
        do {
            _ = try await Connection.connect(options, timeout: .seconds(1))
            XCTFail("must time out")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .overallTimeout, "the overall 1 s runs out before libpq's connect_timeout (1, raised to 2)")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
    }

    func testHostileConninfoStringsGiveClearErrors() throws {
        let cases = ["host='unterminated", "host=a b=", "= value", "host", "postgresql://%zz@h/db", "postgresql://h/db?ssl=true&x=%",
                     "postgresql://[::1/db", "sslmode=verify-full\u{0}", String(repeating: "'", count: 10_001)]
        for text in cases {
            XCTAssertThrowsError(try ConnectionOptions(conninfo: text), text.debugDescription) { error in
                XCTAssertFalse("\(error)".isEmpty)
            }
        }
        let huge = String(repeating: "x", count: 1 << 20)
        let options = ConnectionOptions(["application_name": huge + "' \\ "])
        XCTAssertEqual(try ConnectionOptions(conninfo: options.conninfoString()).values, options.values, "1 MB values round trip")
    }
}
