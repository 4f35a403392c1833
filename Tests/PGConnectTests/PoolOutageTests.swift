import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect

/// The pool when opening a connection fails, is cancelled or is cut short by shutdown: a failed
/// open frees its slot and the next waiter is served, so no waiter waits for its timeout while
/// capacity exists.
///
/// The outages are made by a ``TCPForwarder`` in front of the real test server (the shared
/// server itself keeps running for the other tests). Waiters use an 8 s acquire timeout, and each
/// test asserts they were answered well before it.
final class PoolOutageTests: XCTestCase {
    var server: TestServer!
    var forwarder: TCPForwarder!

    /// How long a waiter may wait in these tests: being served "promptly" means well before this.
    let acquireTimeout: Duration = .seconds(8)

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
        forwarder = try TCPForwarder(targetPort: server.port)
    }

    override func tearDown() {
        forwarder?.close()
        forwarder = nil
    }

    // MARK: A failed open serves the next waiter

    /// Pool of one; three waiters queue behind a lease. When the lease ends (its connection
    /// closed), the new connection for the first waiter cannot be made (the server is unreachable
    /// at that moment): that waiter gets the error, and the other two are served at once.
    func testAFailedOpenForAWaiterServesTheNextWaiters() async throws {
        let pool = makePool(maximumConnections: 1, connectTimeout: .seconds(3))
        let leases = try await holdLeases(1, on: pool)
        defer { leases.end() }
        let waiters = try await queueWaiters(3, on: pool)

        forwarder.refuseNext(1)
        let start = ContinuousClock.now
        leases.end()
        try await leases.finished()
        let outcomes = await results(of: waiters)
        report(outcomes, since: start)

        XCTAssertNotEqual(outcomes[0].code, nil, "the first waiter got the connection error")
        XCTAssertNotEqual(outcomes[0].code, .timeout, "the first waiter got the connection error, not a timeout")
        for (index, outcome) in outcomes.enumerated().dropFirst() {
            XCTAssertEqual(outcome.value, 1, "waiter \(index + 1) was served: \(outcome)")
            XCTAssertLessThan(outcome.at - start, .seconds(3), "waiter \(index + 1) was served well before its \(acquireTimeout) timeout")
        }
        let open = await pool.openConnections
        XCTAssertLessThanOrEqual(open, 1)
        try await assertShutdown(pool)
    }

    /// An outage that ends: the server becomes unreachable (links dropped, new connections
    /// unanswered) while two leases run and four waiters queue. The opens for the first two
    /// waiters time out; the next two get new opens, which succeed once the server is back,
    /// long before their acquire timeout.
    func testWaitersQueuedDuringAnOutageAreServedWhenTheServerIsBack() async throws {
        let pool = makePool(maximumConnections: 2, connectTimeout: .milliseconds(1500))
        let leases = try await holdLeases(2, on: pool)
        defer { leases.end() }
        let waiters = try await queueWaiters(4, on: pool)

        forwarder.cutOff(hold: true)
        let start = ContinuousClock.now
        leases.end()  // each lease closes its connection: two slots free, two opens that hang
        try await leases.finished()
        let early = await results(of: Array(waiters.prefix(2)))
        // The pool's own connect limit (no connect_timeout set): the overall limit, in our words.
        for outcome in early {
            XCTAssertTrue(outcome.code == .overallTimeout || outcome.code == .timeout, "the open during the outage timed out: \(outcome)")
        }

        forwarder.restore()
        let back = ContinuousClock.now
        let late = await results(of: Array(waiters.suffix(2)))
        report(early + late, since: start)
        for (index, outcome) in late.enumerated() {
            XCTAssertEqual(outcome.value, 1, "waiter \(index + 3) was served once the server was back: \(outcome)")
            XCTAssertLessThan(outcome.at - back, .seconds(2), "waiter \(index + 3) was served promptly once the server was back")
            XCTAssertLessThan(outcome.at - start, .seconds(5), "waiter \(index + 3) was served well before its \(acquireTimeout) timeout")
        }
        let open = await pool.openConnections
        XCTAssertLessThanOrEqual(open, 2)
        try await assertShutdown(pool)
    }

    /// The server is down (connections refused) while waiters queue: every waiter gets a new
    /// open and its error at once, none waits for its timeout; when the server is back, the
    /// pool serves leases again with all its capacity.
    func testWaitersQueuedWhileTheServerIsDownAreAnsweredAtOnce() async throws {
        let pool = makePool(maximumConnections: 2, connectTimeout: .seconds(3))
        let leases = try await holdLeases(2, on: pool)
        defer { leases.end() }
        let waiters = try await queueWaiters(4, on: pool)

        forwarder.cutOff()
        let start = ContinuousClock.now
        leases.end()
        try await leases.finished()
        let outcomes = await results(of: waiters)
        report(outcomes, since: start)
        for (index, outcome) in outcomes.enumerated() {
            XCTAssertNotNil(outcome.code, "waiter \(index + 1) got the connection error")
            XCTAssertNotEqual(outcome.code, .timeout, "waiter \(index + 1) got the connection error, not a timeout")
            XCTAssertLessThan(outcome.at - start, .seconds(2), "waiter \(index + 1) was answered at once")
        }

        forwarder.restore()
        let after = await results(of: (0..<4).map { _ in lease(pool) })
        for outcome in after { XCTAssertEqual(outcome.value, 1, "served after the outage: \(outcome)") }
        let open = await pool.openConnections
        XCTAssertLessThanOrEqual(open, 2)
        try await assertShutdown(pool)
    }

    // MARK: Cancellation and shutdown while a connection is being opened

    /// A waiter cancelled while its connection is being opened ends at once; the connection,
    /// when it is made, serves the next waiter.
    func testAWaiterCancelledDuringItsOpenEndsAndTheConnectionServesTheNext() async throws {
        let pool = makePool(maximumConnections: 1, connectTimeout: .seconds(5))
        let leases = try await holdLeases(1, on: pool)
        defer { leases.end() }
        let waiters = try await queueWaiters(2, on: pool)

        forwarder.cutOff(hold: true)
        leases.end()
        try await leases.finished()
        let forwarder = self.forwarder!
        try await waitUntil("the first waiter's connection is being opened") { forwarder.accepted == 2 }
        let cancelled = ContinuousClock.now
        waiters[0].cancel()
        let first = await waiters[0].value
        XCTAssertEqual(first.code, .cancelled, "\(first)")
        XCTAssertLessThan(first.at - cancelled, .seconds(1), "the cancelled waiter ended at once")

        forwarder.restore()
        let back = ContinuousClock.now
        let second = await waiters[1].value
        report([first, second], since: cancelled)
        XCTAssertEqual(second.value, 1, "the next waiter was served: \(second)")
        XCTAssertLessThan(second.at - back, .seconds(2), "the next waiter was served once the server was back")
        XCTAssertEqual(forwarder.accepted, 2, "by the connection opened for the cancelled waiter")
        let open = await pool.openConnections
        XCTAssertEqual(open, 1)
        try await assertShutdown(pool)
    }

    /// A waiter whose connection is being opened still gives up at its acquire timeout (not after
    /// the longer connect timeout); the connection, when it is made, stays in the pool.
    func testAWaiterWhoseOpenHangsEndsAtItsAcquireTimeout() async throws {
        let pool = makePool(maximumConnections: 1, connectTimeout: .seconds(5), acquireTimeout: .milliseconds(800))
        let leases = try await holdLeases(1, on: pool)
        defer { leases.end() }
        let queued = ContinuousClock.now
        let waiters = try await queueWaiters(1, on: pool)

        forwarder.cutOff(hold: true)
        leases.end()
        try await leases.finished()
        let forwarder = self.forwarder!
        try await waitUntil("the waiter's connection is being opened") { forwarder.accepted == 2 }
        let outcome = await waiters[0].value
        report([outcome], since: queued)
        XCTAssertEqual(outcome.code, .timeout, "\(outcome)")
        XCTAssertLessThan(outcome.at - queued, .seconds(2), "ended at the acquire timeout, not the connect timeout")

        forwarder.restore()
        try await waitUntil("the connection opened for the waiter is idle in the pool") { await pool.openConnections == 1 }
        let next = await lease(pool).value
        XCTAssertEqual(next.value, 1, "\(next)")
        XCTAssertEqual(forwarder.accepted, 2, "the next lease used the connection opened for the waiter")
        try await assertShutdown(pool)
    }

    /// A lease whose connection is being opened (no waiting: the pool had room) is cancelled:
    /// it ends at once and its slot is free again.
    func testALeaseCancelledDuringItsOpenFreesItsSlot() async throws {
        let pool = makePool(maximumConnections: 1, connectTimeout: .seconds(5))
        forwarder.cutOff(hold: true)
        let opening = lease(pool)
        let forwarder = self.forwarder!
        try await waitUntil("the connection is being opened") { forwarder.accepted == 1 }
        let cancelled = ContinuousClock.now
        opening.cancel()
        let outcome = await opening.value
        XCTAssertEqual(outcome.code, .cancelled, "\(outcome)")
        XCTAssertLessThan(outcome.at - cancelled, .seconds(1))

        forwarder.restore()
        let next = await lease(pool).value
        XCTAssertEqual(next.value, 1, "the slot is free again: \(next)")
        try await assertShutdown(pool)
    }

    /// Shutdown while the connection for a lease is being opened (the pool had room): the lease
    /// and a waiter behind it get `poolClosed`, and shutdown ends at once instead of waiting for
    /// the open (or forever).
    func testShutdownDuringAnOpenForALeaseEndsPromptly() async throws {
        let pool = makePool(maximumConnections: 1, connectTimeout: .seconds(5))
        forwarder.cutOff(hold: true)
        let opening = lease(pool)
        let forwarder = self.forwarder!
        try await waitUntil("the connection is being opened") { forwarder.accepted == 1 }
        let waiters = try await queueWaiters(1, on: pool)

        let start = ContinuousClock.now
        try await assertShutdown(pool, within: .seconds(2))
        let outcomes = await results(of: [opening] + waiters)
        report(outcomes, since: start)
        for outcome in outcomes {
            XCTAssertEqual(outcome.code, .poolClosed, "\(outcome)")
            XCTAssertLessThan(outcome.at - start, .seconds(2))
        }
    }

    /// Shutdown while the connection for a waiter is being opened (a lease ended and freed its
    /// slot): that waiter and the one behind it get `poolClosed`, and shutdown ends at once.
    func testShutdownDuringAnOpenForAWaiterEndsPromptly() async throws {
        let pool = makePool(maximumConnections: 1, connectTimeout: .seconds(5))
        let leases = try await holdLeases(1, on: pool)
        defer { leases.end() }
        let waiters = try await queueWaiters(2, on: pool)
        forwarder.cutOff(hold: true)
        leases.end()
        try await leases.finished()
        let forwarder = self.forwarder!
        try await waitUntil("the first waiter's connection is being opened") { forwarder.accepted == 2 }

        let start = ContinuousClock.now
        try await assertShutdown(pool, within: .seconds(2))
        let outcomes = await results(of: waiters)
        report(outcomes, since: start)
        for outcome in outcomes {
            XCTAssertEqual(outcome.code, .poolClosed, "\(outcome)")
            XCTAssertLessThan(outcome.at - start, .seconds(2))
        }
    }

    // MARK: Helpers

    private func makePool(maximumConnections: Int, connectTimeout: Duration, acquireTimeout: Duration? = nil) -> ConnectionPool {
        var options = server.options()
        options.port = [forwarder.port]
        return ConnectionPool(options: options, configuration: .init(maximumConnections: maximumConnections,
                                                                   acquireTimeout: acquireTimeout ?? self.acquireTimeout,
                                                                   connectTimeout: connectTimeout))
    }

    /// How a lease ended, and when.
    struct Outcome: Sendable, CustomStringConvertible {
        var value: Int?
        var error: (any Error)?
        var at: ContinuousClock.Instant
        var code: ConnectionError.Code? { (error as? ConnectionError)?.code }
        var description: String { value.map { "served (\($0))" } ?? "failed: \(error.map { "\($0)" } ?? "?")" }
    }

    /// A lease that runs `SELECT 1`.
    private func lease(_ pool: ConnectionPool) -> Task<Outcome, Never> {
        Task {
            do {
                let value = try await pool.withConnection { try await $0.query("SELECT 1")[0][0].int }
                return Outcome(value: value, at: .now)
            } catch {
                return Outcome(error: error, at: .now)
            }
        }
    }

    /// Queues `count` leases one after the other (so their order is known) and returns them.
    private func queueWaiters(_ count: Int, on pool: ConnectionPool) async throws -> [Task<Outcome, Never>] {
        let already = await pool.queuedWaiters
        var tasks: [Task<Outcome, Never>] = []
        for index in 1...count {
            tasks.append(lease(pool))
            try await waitUntil("waiter \(index) is queued") { await pool.queuedWaiters == already + index }
        }
        return tasks
    }

    /// `count` leases that hold their connection until `end()`, then close it (so each needs a
    /// new connection for the next waiter).
    private func holdLeases(_ count: Int, on pool: ConnectionPool) async throws -> HeldLeases {
        let held = HeldLeases()
        for _ in 0..<count {
            held.tasks.append(Task {
                try await pool.withConnection { connection in
                    await held.counter.increment()
                    await held.gate.wait()
                    await connection.close()
                }
            })
        }
        try await waitUntil("\(count) leases are held") { await held.counter.value == count }
        return held
    }

    final class HeldLeases: @unchecked Sendable {  // tasks: set up before use, then only read
        let gate = Gate()
        let counter = Counter()
        var tasks: [Task<Void, any Error>] = []
        func end() { Task { await gate.open() } }
        func finished() async throws { for task in tasks { try await task.value } }
    }

    private func results(of tasks: [Task<Outcome, Never>]) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for task in tasks { outcomes.append(await task.value) }
        return outcomes
    }

    /// Shuts the pool down and asserts it ends within `limit` with no connection left (the pool
    /// is not awaited past `limit`: a shutdown that never ends fails the test instead of hanging it).
    private func assertShutdown(_ pool: ConnectionPool, within limit: Duration = .seconds(5),
                                file: StaticString = #filePath, line: UInt = #line) async throws {
        let done = Counter()
        let start = ContinuousClock.now
        Task {
            await pool.shutdown()
            await done.increment()
        }
        try await waitUntil("shutdown ended", within: limit, file: file, line: line) { await done.value == 1 }
        let open = await pool.openConnections
        XCTAssertEqual(open, 0, "no connection left after shutdown", file: file, line: line)
        print("PoolOutageTests: shutdown took \(ContinuousClock.now - start)")
    }

    private func report(_ outcomes: [Outcome], since start: ContinuousClock.Instant, function: String = #function) {
        for (index, outcome) in outcomes.enumerated() {
            print("PoolOutageTests.\(function): waiter \(index + 1) after \(outcome.at - start): \(outcome)")
        }
    }
}

/// Polls `condition` every 10 ms until it holds; throws (failing the test) after `limit`.
func waitUntil(_ what: String, within limit: Duration = .seconds(5), file: StaticString = #filePath, line: UInt = #line,
               _ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while await !condition() {
        guard ContinuousClock.now < deadline else {
            XCTFail("timed out waiting until \(what)", file: file, line: line)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

actor Counter {
    private(set) var value = 0
    func increment() { value += 1 }
}

/// Opened once; `wait()` returns when it is open.
actor Gate {
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    func open() {
        isOpen = true
        waiting.forEach { $0.resume() }
        waiting.removeAll()
    }
    func wait() async {
        guard !isOpen else { return }
        await withCheckedContinuation { waiting.append($0) }
    }
}
