#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle

/// A bounded pool of certificate-authenticated connections for a Swift service.
///
/// ```swift
/// let pool = ConnectionPool(options: options, configuration: .init(maximumConnections: 4))
/// let count = try await pool.withConnection { connection in
///     try await connection.query("SELECT count(*) FROM jobs")[0][0].int
/// }
/// await pool.shutdown()
/// ```
///
/// In a service, run it in a swift-service-lifecycle `ServiceGroup` instead of calling
/// ``shutdown()``: ``run()`` returns after a graceful shutdown (or cancellation) once every lease
/// has ended.
///
/// Leases are served first come, first served; a waiter gives up after
/// ``Configuration/acquireTimeout`` (also while its connection is being opened). A connection that
/// cannot be opened fails only the lease it was opened for: its slot is free again and the next
/// waiter gets a new attempt, so no waiter waits for its timeout while there is room. An idle
/// connection is checked before it is handed out (closed ones are dropped; one idle longer than
/// ``Configuration/healthCheckAfter`` must answer `SELECT 1`), and a connection that breaks during
/// a lease is replaced. libpq reads the certificate files on every new connection: when `sslcert`,
/// `sslkey` or `sslrootcert` change on disk the pool closes its idle connections, so the next lease
/// uses the new files.
public actor ConnectionPool {
    /// How the pool behaves.
    public struct Configuration: Sendable {
        /// At most this many connections, leased and idle together.
        public var maximumConnections: Int
        /// How long a lease may wait for a connection.
        public var acquireTimeout: Duration
        /// Connect timeout for each new connection.
        public var connectTimeout: Duration
        /// An idle connection older than this answers `SELECT 1` before it is leased.
        public var healthCheckAfter: Duration
        /// Where the pool's metrics go (swift-metrics; see ``PGConnectMetrics``).
        public var metrics: PGConnectMetrics

        public init(maximumConnections: Int = 4, acquireTimeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(10),
                    healthCheckAfter: Duration = .seconds(30), metrics: PGConnectMetrics = PGConnectMetrics()) {
            self.maximumConnections = max(1, maximumConnections)
            self.acquireTimeout = acquireTimeout
            self.connectTimeout = connectTimeout
            self.healthCheckAfter = healthCheckAfter
            self.metrics = metrics
        }
    }

    /// The options every connection is made with.
    public nonisolated let options: ConnectionOptions
    public nonisolated let configuration: Configuration
    let logger: Logger

    private struct Idle {
        var connection: Connection
        var since: ContinuousClock.Instant
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Connection, any Error>
    }

    private var idle: [Idle] = []
    /// Connections leased or being opened (or health-checked before a lease).
    private var busy = 0
    /// Leases waiting for a connection, first come first served.
    private var waiters: [Waiter] = []
    /// Waiters whose connection is being opened, by waiter ID. A waiter that leaves meanwhile
    /// (cancelled, timed out, shut down) is removed; its connection then goes to the next waiter.
    private var serving: [UInt64: Waiter] = [:]
    /// Cancels each open in flight (for a waiter or a lease), by ID: used by ``shutdown()``.
    private var opening: [UInt64: @Sendable () -> Void] = [:]
    /// IDs of waiters and of opens for leases (keys of `serving` and `opening`).
    private var nextWaiterID: UInt64 = 0
    private var isShutDown = false
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    private var fileStamp: [String: String]
    /// Bumped when the certificate files change; each connection remembers the one it was made in.
    private var generation = 0
    private var generationOf: [ObjectIdentifier: Int] = [:]

    /// A pool for `options` (connections open lazily, on the first leases).
    public init(options: ConnectionOptions, configuration: Configuration = .init(), logger: Logger = Logger(label: "pgconnect.pool")) {
        self.options = options
        self.configuration = configuration
        self.logger = logger
        self.fileStamp = Self.stamp(options)
        configuration.metrics.recordPool(open: 0, inUse: 0, waiters: 0, maximum: configuration.maximumConnections)
    }

    /// Connections open now, leased and idle.
    public var openConnections: Int { busy + idle.count }

    /// Leases waiting in the queue (for tests).
    var queuedWaiters: Int { waiters.count }

    /// Leases a connection for `body` and returns it to the pool afterwards (a broken one is dropped).
    /// - Throws: ``ConnectionError`` `.timeout` when no connection became free in time, `.poolClosed`
    ///   after ``shutdown()``, connection errors, and whatever `body` throws.
    public func withConnection<T: Sendable>(_ body: @Sendable (Connection) async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        let connection = try await acquire()
        configuration.metrics.recordWait(.now - started)
        recordState()
        do {
            let result = try await body(connection)
            release(connection)
            return result
        } catch {
            release(connection)
            throw error
        }
    }

    /// Stops leasing, waits for every lease to end, and closes all connections.
    ///
    /// Leases still waiting, also those whose connection is being opened, end with `.poolClosed`;
    /// the opens in flight are cancelled.
    public func shutdown() async {
        isShutDown = true
        let waiting = waiters + serving.values
        waiters.removeAll()
        serving.removeAll()
        for waiter in waiting { waiter.continuation.resume(throwing: Self.closedError) }
        for cancel in opening.values { cancel() }
        recordState()
        if busy > 0 {
            await withCheckedContinuation { shutdownWaiters.append($0) }
        }
        let closing = idle.map(\.connection)
        idle.removeAll()
        generationOf.removeAll()
        for connection in closing { await connection.close() }
        recordState()
    }

    private static var closedError: ConnectionError {
        ConnectionError(code: .poolClosed, phase: .options, message: "the pool was shut down")
    }

    // MARK: Leasing

    private func acquire() async throws -> Connection {
        guard !isShutDown else { throw Self.closedError }
        refreshIfFilesChanged()
        while let candidate = idle.popLast() {
            busy += 1
            if await isHealthy(candidate) {
                guard !isShutDown else {
                    // Shut down during the check: back to idle, where shutdown closes it.
                    idle.append(candidate)
                    slotFreed()
                    throw Self.closedError
                }
                return candidate.connection
            }
            logger.debug("dropping a broken idle connection")
            generationOf[ObjectIdentifier(candidate.connection)] = nil
            slotFreed()
            await candidate.connection.close()
        }
        // The checks above may have waited: the pool may be shut down by now.
        guard !isShutDown else { throw Self.closedError }
        if busy < configuration.maximumConnections {
            busy += 1
            return try await openForLease()
        }
        return try await waitForConnection()
    }

    /// Opens a connection for the caller, who holds a slot (`busy`) for it. Shutdown cancels the
    /// open; either way the slot is freed when no connection comes of it.
    private func openForLease() async throws -> Connection {
        nextWaiterID += 1
        let id = nextWaiterID
        let task = Task { try await self.open() }
        opening[id] = { task.cancel() }
        let result = await withTaskCancellationHandler {
            await task.result
        } onCancel: {
            task.cancel()
        }
        opening[id] = nil
        switch result {
        case .success(let connection):
            guard !isShutDown else {
                release(connection)  // to idle, where shutdown closes it
                throw Self.closedError
            }
            return connection
        case .failure(let error):
            slotFreed()
            throw isShutDown ? Self.closedError : error
        }
    }

    private func waitForConnection() async throws -> Connection {
        nextWaiterID += 1
        let id = nextWaiterID
        let timeout = configuration.acquireTimeout
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.fail(waiter: id, ConnectionError(code: .timeout, phase: .options,
                                                          message: "no pooled connection became free within \(timeout)"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append(Waiter(id: id, continuation: continuation))
                recordState()
            }
        } onCancel: {
            Task { await self.fail(waiter: id, ConnectionError(code: .cancelled, phase: .options, message: "the lease was cancelled")) }
        }
    }

    /// Ends a waiter with `error`, whether it is queued or its connection is being opened (that
    /// open goes on, and its connection serves the next waiter).
    private func fail(waiter id: UInt64, _ error: ConnectionError) {
        if let index = waiters.firstIndex(where: { $0.id == id }) {
            waiters.remove(at: index).continuation.resume(throwing: error)
        } else if let waiter = serving.removeValue(forKey: id) {
            waiter.continuation.resume(throwing: error)
        }
        recordState()
    }

    /// A new connection, remembered with the current file generation.
    private func open() async throws -> Connection {
        let made = generation
        let connection: Connection
        do {
            connection = try await Connection.connect(options, timeout: configuration.connectTimeout, logger: logger)
        } catch let error as ConnectionError {
            // A cancelled open (shutdown, a lease that left) is no failure of the database.
            if error.code != .cancelled { configuration.metrics.recordFailure(error, options: options) }
            throw error
        }
        configuration.metrics.recordConnected(connection.timings)
        if let notAfter = connection.tlsSession?.serverCertificate?.notAfter {
            configuration.metrics.recordCertificateNotAfter(notAfter, certificate: "server")
        }
        generationOf[ObjectIdentifier(connection)] = made
        return connection
    }

    private func release(_ connection: Connection) {
        defer { recordState() }
        refreshIfFilesChanged()
        if connection.isClosed || generationOf[ObjectIdentifier(connection)] != generation {
            generationOf[ObjectIdentifier(connection)] = nil
            Task { await connection.close() }
            slotFreed()
        } else if !waiters.isEmpty {
            waiters.removeFirst().continuation.resume(returning: connection)  // stays busy, now for the waiter
        } else {
            idle.append(Idle(connection: connection, since: .now))
            slotFreed()
        }
    }

    /// A slot is free (`busy` goes down by one): serve the waiters, or let shutdown go on.
    private func slotFreed() {
        busy -= 1
        serveWaiters()
        if busy == 0, !shutdownWaiters.isEmpty {
            shutdownWaiters.forEach { $0.resume() }
            shutdownWaiters.removeAll()
        }
    }

    /// Opens a new connection for each waiter there is room for, first come first served. An
    /// open that fails gives its waiter the error and frees the slot for the next waiter.
    private func serveWaiters() {
        while !isShutDown, !waiters.isEmpty, busy < configuration.maximumConnections {
            let waiter = waiters.removeFirst()
            busy += 1
            serving[waiter.id] = waiter
            let task = Task {
                do {
                    let connection = try await self.open()
                    self.opened(connection, for: waiter.id)
                } catch {
                    self.openFailed(error, for: waiter.id)
                }
            }
            opening[waiter.id] = { task.cancel() }
        }
    }

    private func opened(_ connection: Connection, for id: UInt64) {
        opening[id] = nil
        if let waiter = serving.removeValue(forKey: id) {
            waiter.continuation.resume(returning: connection)  // stays busy, now for the waiter
        } else {
            release(connection)  // the waiter left: the next one gets it (or idle)
        }
    }

    private func openFailed(_ error: any Error, for id: UInt64) {
        opening[id] = nil
        serving.removeValue(forKey: id)?.continuation.resume(throwing: error)
        slotFreed()
        recordState()
    }

    /// Sends the pool's size, use and queue to the metrics backend.
    private func recordState() {
        configuration.metrics.recordPool(open: busy + idle.count, inUse: busy, waiters: waiters.count + serving.count,
                                         maximum: configuration.maximumConnections)
    }

    private func isHealthy(_ candidate: Idle) async -> Bool {
        // Reads whatever the server sent meanwhile (e.g. the FATAL of pg_terminate_backend): cheap, no round trip.
        guard await candidate.connection.isAlive() else { return false }
        guard ContinuousClock.now - candidate.since > configuration.healthCheckAfter else { return true }
        return (try? await candidate.connection.query("SELECT 1")) != nil
    }

    // MARK: Certificate rotation

    /// Closes idle connections when a certificate file changed, so new leases read the new files.
    private func refreshIfFilesChanged() {
        let current = Self.stamp(options)
        guard current != fileStamp else { return }
        fileStamp = current
        generation += 1
        logger.info("certificate files changed; closing idle connections", metadata: ["pgconnect.idle": "\(idle.count)"])
        let stale = idle.map(\.connection)
        idle.removeAll()
        for connection in stale { generationOf[ObjectIdentifier(connection)] = nil }
        Task { for connection in stale { await connection.close() } }
    }

    /// Size and modification time of each certificate file (the content is not read).
    static func stamp(_ options: ConnectionOptions) -> [String: String] {
        var stamp: [String: String] = [:]
        for keyword in ["sslcert", "sslkey", "sslrootcert", "sslcrl"] {
            guard let path = options[keyword], !path.isEmpty,
                  let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            stamp[keyword] = "\(attributes[.size] ?? 0)@\(modified)"
        }
        return stamp
    }
}

extension ConnectionPool: Service {
    /// Runs the pool as a swift-service-lifecycle `Service`: waits for a graceful shutdown (or
    /// cancellation), then shuts the pool down like ``shutdown()`` — new leases fail with
    /// `.poolClosed`, running leases finish, every connection is closed — and returns.
    ///
    /// ```swift
    /// let group = ServiceGroup(services: [pool, watcher, app], gracefulShutdownSignals: [.sigterm], logger: logger)
    /// try await group.run()
    /// ```
    public func run() async throws {
        // Cancellation ends the wait the same way; either way the leases are waited for.
        try? await gracefulShutdown()
        logger.debug("shutting the pool down", metadata: ["pgconnect.leased": "\(busy)"])
        await shutdown()
    }
}
