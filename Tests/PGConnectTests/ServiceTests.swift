import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect

/// What a Swift service uses: the pool, cancellation, LISTEN/NOTIFY and certificate rotation,
/// against the real server.
final class ServiceTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
    }

    func testFiftyTasksShareFourConnections() async throws {
        let pool = ConnectionPool(options: server.options(), configuration: .init(maximumConnections: 4, acquireTimeout: .seconds(30)))
        let pids = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let row = try await connection.query("SELECT pg_backend_pid(), pg_sleep(0.005)")
                        return row[0][0].int ?? 0
                    }
                }
            }
            var pids: [Int] = []
            for try await pid in group { pids.append(pid) }
            return pids
        }
        XCTAssertEqual(pids.count, 50, "every task was served")
        XCTAssertLessThanOrEqual(Set(pids).count, 4)
        let open = await pool.openConnections
        XCTAssertLessThanOrEqual(open, 4)
        await pool.shutdown()
        let closed = await pool.openConnections
        XCTAssertEqual(closed, 0)
    }

    func testConnectionKilledOnTheServerIsReplaced() async throws {
        let pool = ConnectionPool(options: server.options(), configuration: .init(maximumConnections: 1))
        let first = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()")[0][0].int ?? 0 }
        let admin = try await Connection.connect(server.admin)
        _ = try await admin.query("SELECT pg_terminate_backend($1)", [first])
        await admin.close()
        try await Task.sleep(for: .milliseconds(100))
        let second = try await pool.withConnection { try await $0.query("SELECT pg_backend_pid()")[0][0].int ?? 0 }
        XCTAssertNotEqual(first, second, "a new backend served the lease")
        await pool.shutdown()
    }

    func testWaitersTimeOutAndLeasesAreServedInOrder() async throws {
        let pool = ConnectionPool(options: server.options(),
                                  configuration: .init(maximumConnections: 1, acquireTimeout: .milliseconds(300)))
        let holder = Task { try await pool.withConnection { _ = try await $0.query("SELECT pg_sleep(1)") } }
        try await Task.sleep(for: .milliseconds(100))
        do {
            try await pool.withConnection { _ in }
            XCTFail("the only connection is leased")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .timeout)
        }
        try await holder.value
        try await pool.withConnection { _ in }  // free again
        await pool.shutdown()
        do {
            try await pool.withConnection { _ in }
            XCTFail("shut down")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .poolClosed)
        }
    }

    func testShutdownWaitsForRunningLeases() async throws {
        let pool = ConnectionPool(options: server.options(), configuration: .init(maximumConnections: 2))
        let lease = Task { try await pool.withConnection { try await $0.query("SELECT pg_sleep(0.3), 7")[0][1].int } }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        await pool.shutdown()
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(100), "shutdown waited for the lease")
        let value = try await lease.value
        XCTAssertEqual(value, 7, "the lease finished normally")
        let open = await pool.openConnections
        XCTAssertEqual(open, 0)
    }

    func testCancellingAPooledPgSleepEndsWithinASecond() async throws {
        let pool = ConnectionPool(options: server.options(), configuration: .init(maximumConnections: 1))
        try await assertCancellationStops(within: .seconds(1)) {
            try await pool.withConnection { try await $0.query("SELECT pg_sleep(10)") }
        }
        let again = try await pool.withConnection { try await $0.query("SELECT 1")[0][0].int }
        XCTAssertEqual(again, 1, "the pool is usable after the cancellation")
        await pool.shutdown()
    }

    func testListenNotifyDeliversNotifications() async throws {
        let listener = try await Connection.connect(server.options())
        let notifier = try await Connection.connect(server.options())
        try await listener.listen("jobs \"queue\"")
        let received = Task { () -> PostgresNotification? in
            for try await notification in listener.notifications() { return notification }
            return nil
        }
        try await Task.sleep(for: .milliseconds(100))
        _ = try await notifier.query("SELECT pg_notify($1, $2)", ["jobs \"queue\"", "hello ✓"])
        let notification = try await received.value
        XCTAssertEqual(notification?.channel, "jobs \"queue\"")
        XCTAssertEqual(notification?.payload, "hello ✓")
        XCTAssertGreaterThan(notification?.processID ?? 0, 0)

        // A notification that arrives during a query is kept for the next iteration.
        _ = try await notifier.query("NOTIFY \"jobs \"\"queue\"\"\", 'second'")
        _ = try await listener.query("SELECT pg_sleep(0.1)")
        var iterator = listener.notifications().makeAsyncIterator()
        let second = try await iterator.next()
        XCTAssertEqual(second?.payload, "second")

        // Cancelling the waiting task ends the sequence.
        let waiting = Task { () -> Int in
            var count = 0
            for try await _ in listener.notifications() { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        let count = try await waiting.value
        XCTAssertEqual(count, 0)
        await listener.close()
        await notifier.close()
    }

    func testRotatedCertificateFilesAreUsedByTheNextPooledConnection() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotation-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let caCertificate = "\(server.pki)/root.crt", caKey = "\(server.pki)/root.key"
        let first = try CertificateFactory.issue(commonName: "alice", name: "current", days: 30, caCertificate: caCertificate,
                                                 caKey: caKey, directory: directory)
        var options = server.options()
        options.sslcert = first.certificate
        options.sslkey = first.key
        let pool = ConnectionPool(options: options, configuration: .init(maximumConnections: 2))
        let serialQuery = "SELECT client_serial::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        let before = try await pool.withConnection { try await $0.query(serialQuery)[0][0].string }

        // Rotate: new files in place (a new key and a new serial).
        try await Task.sleep(for: .milliseconds(20))
        let next = try CertificateFactory.issue(commonName: "alice", name: "next", days: 30, caCertificate: caCertificate,
                                                caKey: caKey, directory: directory)
        try FileManager.default.removeItem(atPath: first.certificate)
        try FileManager.default.removeItem(atPath: first.key)
        try FileManager.default.moveItem(atPath: next.certificate, toPath: first.certificate)
        try FileManager.default.moveItem(atPath: next.key, toPath: first.key)

        let after = try await pool.withConnection { try await $0.query(serialQuery)[0][0].string }
        XCTAssertNotNil(before)
        XCTAssertNotEqual(before, after, "the next connection presented the new certificate")
        await pool.shutdown()
    }
}
