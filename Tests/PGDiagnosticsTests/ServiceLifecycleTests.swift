import Foundation
import Logging
import PGConnect
import PGTestSupport
import ServiceLifecycle
import XCTest
@testable import PGDiagnostics

/// The pool and the certificate watcher run by a real swift-service-lifecycle `ServiceGroup`
/// against the real server, and stopped by a real signal.
final class ServiceLifecycleTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
    }

    /// A service of the application: leases a connection for a slow query, tells the test when
    /// the lease runs, then waits for the graceful shutdown like any service.
    struct LeasingService: Service {
        let pool: ConnectionPool
        let leaseRunning: AsyncStream<Void>.Continuation
        let leaseResult: AsyncStream<Result<Int, any Error>>.Continuation

        func run() async throws {
            let result: Result<Int, any Error>
            do {
                result = .success(try await pool.withConnection { connection in
                    leaseRunning.yield()
                    return try await connection.query("SELECT pg_sleep(0.5), 42")[0][1].int ?? 0
                })
            } catch {
                result = .failure(error)
            }
            leaseResult.yield(result)
            try? await gracefulShutdown()
        }
    }

    func testASignalShutsThePoolAndTheWatcherDownAfterTheRunningLease() async throws {
        let metrics = RecordingMetricsFactory()
        let pool = ConnectionPool(options: server.options(),
                                  configuration: .init(maximumConnections: 2, metrics: .init(dimensions: [("pool", "lifecycle")], factory: metrics)))
        let watcher = CertificateExpiryWatcher(path: "\(server.pki)/alice.crt", interval: .milliseconds(20),
                                               metrics: .init(dimensions: [("pool", "lifecycle")], factory: metrics))
        let (running, runningContinuation) = AsyncStream<Void>.makeStream()
        let (results, resultContinuation) = AsyncStream<Result<Int, any Error>>.makeStream()
        let app = LeasingService(pool: pool, leaseRunning: runningContinuation, leaseResult: resultContinuation)
        var logger = Logger(label: "test.lifecycle")
        logger.logLevel = .warning
        // Graceful shutdown runs in reverse order: the pool first, while the app's lease still runs.
        let group = ServiceGroup(configuration: .init(services: [.init(service: app), .init(service: watcher), .init(service: pool)],
                                                      gracefulShutdownSignals: [.sigusr2], logger: logger))
        let groupTask = Task { try await group.run() }

        var iterator = running.makeAsyncIterator()
        _ = await iterator.next()
        let signalled = ContinuousClock.now
        kill(getpid(), SIGUSR2)
        try await groupTask.value  // returns once every service returned
        let stopped = ContinuousClock.now - signalled

        var resultIterator = results.makeAsyncIterator()
        let lease = await resultIterator.next()
        XCTAssertEqual(try lease?.get(), 42, "the lease that ran during the shutdown finished")
        XCTAssertGreaterThan(stopped, .milliseconds(300), "the shutdown waited for the lease (pg_sleep(0.5))")
        XCTAssertLessThan(stopped, .seconds(5), "the group stopped promptly after the lease")
        let open = await pool.openConnections
        XCTAssertEqual(open, 0, "every connection is closed")
        do {
            try await pool.withConnection { _ in }
            XCTFail("the pool is shut down")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .poolClosed)
        }
        XCTAssertFalse(metrics.samples(PGConnectMetrics.Name.certificateNotAfter, ["certificate": "client"]).isEmpty,
                       "the watcher checked the certificate while it ran")
        XCTAssertEqual(metrics.gauge(PGConnectMetrics.Name.poolConnections, ["pool": "lifecycle"]), 0)
    }

    func testCancellingTheGroupAlsoStopsThePoolAndTheWatcher() async throws {
        let pool = ConnectionPool(options: server.options(), configuration: .init(maximumConnections: 1))
        let watcher = CertificateExpiryWatcher(path: "\(server.pki)/alice.crt", interval: .seconds(3600))
        let group = ServiceGroup(services: [watcher, pool], logger: Logger(label: "test.lifecycle"))
        let groupTask = Task { try await group.run() }
        try await pool.withConnection { _ = try await $0.query("SELECT 1") }
        groupTask.cancel()
        try? await groupTask.value
        let open = await pool.openConnections
        XCTAssertEqual(open, 0)
    }
}
