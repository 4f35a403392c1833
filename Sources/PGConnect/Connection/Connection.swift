#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibPQ
import Dispatch
import Logging
import Synchronization

/// A connection to PostgreSQL through libpq, made and used without blocking Swift's
/// cooperative thread pool.
///
/// One operation at a time uses the connection, in the order they were asked for. Connecting
/// and anything that may wait long runs on the connection's own serial dispatch queue, where
/// waits for the socket use `poll`, so a slow network or a blocking DNS lookup inside libpq never
/// stalls other tasks. A query starts on the calling thread and finishes there when the answer
/// comes within ``inlineWaitLimit`` (a local or LAN round trip: no thread switch, as fast as
/// libpq's own `PQexec`); a slower one moves to the queue. Cancelling the calling task stops a
/// connect or a query.
///
/// ```swift
/// let connection = try await Connection.connect(options, timeout: .seconds(10))
/// let rows = try await connection.query("SELECT current_user")
/// print(rows[0][0].string ?? "", connection.tlsSession?.protocolVersion ?? "no TLS")
/// await connection.close()
/// ```
public final class Connection: Sendable {
    /// The options this connection was made with (print them: secrets are redacted).
    public let options: ConnectionOptions
    /// When each phase of the connection ended.
    public let timings: ConnectionTimings
    /// The TLS session, or `nil` if the connection is not encrypted.
    public let tlsSession: TLSSession?
    /// The server's version as libpq reports it (e.g. 150018 for 15.18).
    public let serverVersion: Int
    /// libpq's effective value for each keyword after defaults (`PQconninfo`); secrets removed.
    /// (libpq's list is copied when the connection is made and read into Swift when first asked for.)
    public var effectiveOptions: ConnectionOptions { conninfo.options }
    private let conninfo: ConninfoSnapshot

    /// How long a query may wait for the server on the calling thread before it moves to the
    /// connection's queue: long enough for a round trip on the same machine or network, short
    /// enough that Swift's cooperative threads are not held for long.
    public static let inlineWaitLimit: Duration = .milliseconds(1)

    let handle: PGConnHandle
    let queue: DispatchQueue
    let waiter: SocketWaiter
    let gate = OperationGate()
    let logger: Logger

    private init(options: ConnectionOptions, conninfo: ConninfoSnapshot, timings: ConnectionTimings,
                 tlsSession: TLSSession?, serverVersion: Int, handle: PGConnHandle, queue: DispatchQueue,
                 waiter: SocketWaiter, logger: Logger) {
        self.options = options
        self.conninfo = conninfo
        self.timings = timings
        self.tlsSession = tlsSession
        self.serverVersion = serverVersion
        self.handle = handle
        self.queue = queue
        self.waiter = waiter
        self.logger = logger
    }

    /// Connects with `PQconnectStartParams` and `PQconnectPoll`.
    ///
    /// - Parameters:
    ///   - options: the keywords to pass; empty values count as unset, `PG*` variables and
    ///     libpq's defaults fill in the rest.
    ///   - timeout: give up (``ConnectionError/Code/timeout``) when the whole attempt, all
    ///     hosts included, takes longer. `nil` waits as long as libpq does (`connect_timeout`).
    ///   - logger: receives connection events and server notices.
    /// - Throws: ``ConnectionError`` with libpq's message, the SQLSTATE of a server error, and
    ///   the phase reached; ``ConnectionError/Code/cancelled`` if the task is cancelled.
    public static func connect(_ options: ConnectionOptions, timeout: Duration? = nil,
                               logger: Logger = Logger(label: "pgconnect")) async throws -> Connection {
        try options.validate()
        KeyPassphraseHook.install()
        let queue = DispatchQueue(label: "pgconnect.connection")
        let waiter = SocketWaiter()
        let deadline = timeout.map { ContinuousClock.now + $0 }
        return try await perform(on: queue, waiter: waiter) { cancellation in
            try connectBlocking(options, deadline: deadline, cancellation: cancellation, queue: queue, waiter: waiter, logger: logger)
        }
    }

    /// Runs `body` on `queue` and returns its result, cancelling it if the task is cancelled.
    static func perform<T: Sendable>(on queue: DispatchQueue, waiter: SocketWaiter,
                                     _ body: @escaping @Sendable (OperationCancellation) throws -> T) async throws -> T {
        let cancellation = OperationCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try body(cancellation) }) }
            }
        } onCancel: {
            waiter.cancel(cancellation)
        }
    }

    /// Runs `body` on the connection's queue once the operations ahead are done, and returns its
    /// result; cancelling the task cancels `body` through `cancellation`.
    func run<T: Sendable>(_ body: @escaping @Sendable (OperationCancellation) throws -> T) async throws -> T {
        let cancellation = OperationCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                gate.enter { self.finishOnQueue(body, cancellation: cancellation, continuation) }
            }
        } onCancel: {
            waiter.cancel(cancellation)
        }
    }

    /// Runs `body` on the queue for the operation that holds the gate, then leaves the gate and
    /// resumes the caller.
    func finishOnQueue<T: Sendable>(_ body: @escaping @Sendable (OperationCancellation) throws -> T,
                                    cancellation: OperationCancellation,
                                    _ continuation: CheckedContinuation<T, any Error>) {
        queue.async { [handle, gate] in
            let result = Result { try body(cancellation) }
            handle.noteStatus()
            gate.leave()
            continuation.resume(with: result)
        }
    }

    // MARK: Connecting (runs on `queue`)

    private static func connectBlocking(_ options: ConnectionOptions, deadline: ContinuousClock.Instant?,
                                        cancellation: OperationCancellation, queue: DispatchQueue,
                                        waiter: SocketWaiter, logger: Logger) throws -> Connection {
        if cancellation.isCancelled {
            throw ConnectionError(code: .cancelled, phase: .options, message: "the connection attempt was cancelled before it started")
        }
        var timings = ConnectionTimings()
        let pairs = options.pairs.filter { !$0.value.isEmpty }
        let pointer: OpaquePointer? = withCStringArray(pairs.map(\.keyword)) { keywords in
            withCStringArray(pairs.map(\.value)) { values in
                PQconnectStartParams(keywords, values, 0)
            }
        }
        guard let pointer else {
            throw ConnectionError(code: .outOfMemory, phase: .options, message: "libpq could not allocate a connection object")
        }
        let handle = PGConnHandle(pointer, logger: logger)
        timings.resolved = .now - timings.start
        PQsetErrorVerbosity(pointer, PQERRORS_VERBOSE)

        var progress = ConnectProgress()
        if PQstatus(pointer) == CONNECTION_BAD {
            // libpq refused the options, or every host failed inside PQconnectStartParams.
            throw failure(handle, pointer, phase: progress.phaseForImmediateFailure(pointer), logger: logger)
        }
        progress.observe(pointer, timings: &timings)
        var pollStatus = PGRES_POLLING_WRITING
        while true {
            switch pollStatus {
            case PGRES_POLLING_OK:
                timings.ready = .now - timings.start
                if timings.authenticated == nil { timings.authenticated = timings.ready }
                return finishConnect(options: options, handle: handle, pointer: pointer, timings: timings,
                                     tlsSession: progress.handshake, queue: queue, waiter: waiter, logger: logger)
            case PGRES_POLLING_FAILED:
                throw failure(handle, pointer, phase: progress.phase, handshake: progress.handshake, logger: logger)
            default:
                let readiness = waiter.wait(socket: PQsocket(pointer), read: pollStatus == PGRES_POLLING_READING,
                                            write: pollStatus == PGRES_POLLING_WRITING, deadline: deadline,
                                            cancellation: cancellation)
                switch readiness {
                case .ready:
                    pollStatus = PQconnectPoll(pointer)
                    progress.observe(pointer, timings: &timings)
                case .timedOut:
                    handle.finish()
                    throw ConnectionError(code: .timeout, phase: progress.phase,
                                          message: "timeout expired while \(progress.phase.activity)")
                case .cancelled:
                    handle.finish()
                    throw ConnectionError(code: .cancelled, phase: progress.phase,
                                          message: "the connection attempt was cancelled while \(progress.phase.activity)")
                }
            }
        }
    }

    private static func finishConnect(options: ConnectionOptions, handle: PGConnHandle, pointer: OpaquePointer,
                                      timings: ConnectionTimings, tlsSession: TLSSession?, queue: DispatchQueue,
                                      waiter: SocketWaiter, logger: Logger) -> Connection {
        PQsetErrorVerbosity(pointer, PQERRORS_DEFAULT)
        _ = PQsetnonblocking(pointer, 1)
        handle.installNoticeReceiver()
        _ = KeyPassphraseHook.takeAskedWithoutPassword(pointer)
        let connection = Connection(options: options, conninfo: ConninfoSnapshot(pointer), timings: timings,
                                    tlsSession: PQsslInUse(pointer) != 0 ? tlsSession ?? TLSSession(pointer) : nil, serverVersion: Int(PQserverVersion(pointer)),
                                    handle: handle, queue: queue, waiter: waiter, logger: logger)
        logger.debug("connected", metadata: [
            "postgres.host": "\(String(cString: PQhost(pointer)))",
            "postgres.user": "\(String(cString: PQuser(pointer)))",
            "postgres.sslmode": "\(connection.effectiveOptions["sslmode"] ?? "")",
            "postgres.ssl": "\(connection.tlsSession?.protocolVersion ?? "off")",
            "postgres.phases_ms": "\(timings.phaseDurations.map { "\($0.phase)=\(($0.duration.milliseconds * 100).rounded() / 100)" }.joined(separator: " "))",
        ])
        return connection
    }

    private static func failure(_ handle: PGConnHandle, _ pointer: OpaquePointer, phase: ConnectionPhase,
                                handshake: TLSSession? = nil, logger: Logger) -> ConnectionError {
        let message = String(cString: PQerrorMessage(pointer))
        let askedForPassphrase = KeyPassphraseHook.takeAskedWithoutPassword(pointer)
        handle.finish()
        var error = ConnectionError(code: .connectionFailed, phase: phase, message: message)
        error.handshake = handshake
        defer {
            logger.debug("connection failed", metadata: [
                "postgres.phase": "\(error.phase.rawValue)", "postgres.code": "\(error.code)",
                "postgres.sqlstate": "\(error.sqlState ?? "")",
            ])
        }
        if askedForPassphrase {
            error.code = .keyPassphraseRequired
            error.hint = "The private key file is encrypted and no sslpassword was given. Pass its passphrase "
                + "as sslpassword (pgconnect never prompts on the terminal), or use an unencrypted key with mode 0600."
        } else if let sqlState = error.sqlState, sqlState.hasPrefix("28") || sqlState == "3D000" || sqlState == "42501" {
            error.code = .authenticationFailed
        } else if phase == .options || (error.attempts.count <= 1 && !message.hasPrefix("connection to server")
                                        && isOptionMessage(message)) {
            error.code = .invalidOptions
            error.phase = .options
        }
        return error
    }

    /// libpq's option-validation messages (`pqConnectOptions2`), which fail before any I/O.
    private static func isOptionMessage(_ message: String) -> Bool {
        ["invalid ", "could not match ", "weak sslmode", "invalid integer value", "invalid SSL protocol version range"]
            .contains { message.hasPrefix($0) }
    }

    // MARK: Closing

    /// Whether ``close()`` was called or the connection broke.
    /// (As of the end of the last operation: never waits for one in progress.)
    public var isClosed: Bool { handle.isClosed }

    /// Whether the connection still works as far as can be told without a round trip: reads what
    /// the server sent while it was idle (a termination notice, EOF) and checks libpq's status.
    public func isAlive() async -> Bool {
        let handle = self.handle
        return (try? await run { _ in
            guard let conn = handle.pointer, PQstatus(conn) == CONNECTION_OK else { return false }
            // Read what is pending until the socket has nothing more: a terminated backend sends a
            // FATAL message and then EOF, which makes PQconsumeInput fail.
            for _ in 0..<4 {
                guard PQconsumeInput(conn) == 1 else { return false }
                var poller = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 0) == 1 else { break }
            }
            _ = PQisBusy(conn)  // parse what arrived
            return PQstatus(conn) == CONNECTION_OK
        }) ?? false
    }

    /// Closes the connection (`PQfinish`) after the operations already asked for. Safe to call
    /// more than once.
    public func close() async {
        // PQfinish never waits for the server (Terminate and close_notify are written to the
        // non-blocking socket), so an idle connection is closed on the calling thread.
        if gate.tryEnter() {
            handle.finish()
            gate.leave()
            return
        }
        let handle = self.handle
        _ = try? await run { _ in handle.finish() }
    }
}

/// Tracks how far a connection attempt got, from `PQstatus` after each poll.
struct ConnectProgress {
    private(set) var phase: ConnectionPhase = .connecting
    /// Whether this attempt has started a TLS handshake (libpq's `ssl_in_use` is already set then).
    private var handshaking = false
    /// libpq's TLS session, read once when the last handshake finished (the connection's session
    /// on success; evidence for a rejection that comes after the handshake on failure).
    private(set) var handshake: TLSSession?

    mutating func observe(_ pointer: OpaquePointer, timings: inout ConnectionTimings) {
        let now = ContinuousClock.now - timings.start
        switch PQstatus(pointer) {
        case CONNECTION_STARTED:
            // A (new) attempt: a later host or the plaintext retry of sslmode=prefer.
            phase = .connecting
            handshaking = false
            handshake = nil
            timings.tcpConnected = nil
            timings.tlsEstablished = nil
            timings.authenticated = nil
        case CONNECTION_SSL_STARTUP, CONNECTION_GSS_STARTUP:
            if timings.tcpConnected == nil { timings.tcpConnected = now }
            handshaking = true
            phase = .tls
        case CONNECTION_MADE:
            if timings.tcpConnected == nil { timings.tcpConnected = now }
            phase = .tls
            if handshaking { tlsDone(pointer, now, &timings) }
        case CONNECTION_AWAITING_RESPONSE:
            if timings.tcpConnected == nil { timings.tcpConnected = now }
            if handshaking { tlsDone(pointer, now, &timings) }
            phase = .authentication
        case CONNECTION_AUTH_OK:
            if timings.authenticated == nil { timings.authenticated = now }
            phase = .startup
        case CONNECTION_OK, CONNECTION_BAD:
            break
        default:
            if timings.authenticated == nil { timings.authenticated = now }
            phase = .startup
        }
    }

    /// The handshake finished (libpq moved on to the startup packet).
    private mutating func tlsDone(_ pointer: OpaquePointer, _ now: Duration, _ timings: inout ConnectionTimings) {
        handshaking = false
        phase = .authentication
        if PQsslInUse(pointer) != 0 {
            if timings.tlsEstablished == nil { timings.tlsEstablished = now }
            handshake = TLSSession(pointer)
        }
    }

    /// The phase of a failure reported by `PQconnectStartParams` itself.
    func phaseForImmediateFailure(_ pointer: OpaquePointer) -> ConnectionPhase {
        let message = String(cString: PQerrorMessage(pointer))
        // libpq resolves host names inside PQconnectStartParams; a failure there is network, not options.
        return message.hasPrefix("connection to server") || message.hasPrefix("could not translate host name") ? .connecting : .options
    }
}

extension ConnectionPhase {
    /// What the connection was doing in this phase, for messages ("negotiating TLS").
    public var activity: String {
        switch self {
        case .options: "checking the options"
        case .connecting: "connecting to the server"
        case .tls: "negotiating TLS"
        case .authentication: "authenticating"
        case .startup: "waiting for the server to finish startup"
        case .query: "running a query"
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings that lives for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    var pointers = duplicates.map { UnsafePointer<CChar>($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// libpq's `PQconninfo` list of a connection, copied when the connection is made (libpq owns
/// the copy, freed exactly once) and read into ``ConnectionOptions`` the first time it is asked
/// for; secrets are left out.
final class ConninfoSnapshot: Sendable {
    private struct Copy: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<PQconninfoOption>
    }

    private enum State {
        case copied(Copy)
        case read(ConnectionOptions)
    }

    private let state: Mutex<State>

    init(_ conn: OpaquePointer) {
        state = Mutex(PQconninfo(conn).map { .copied(Copy(pointer: $0)) } ?? .read(ConnectionOptions()))
    }

    var options: ConnectionOptions {
        state.withLock { state in
            switch state {
            case .read(let options):
                return options
            case .copied(let copy):
                var values: [String: String] = [:]
                var cursor = copy.pointer
                while let keyword = cursor.pointee.keyword {
                    let name = String(cString: keyword)
                    if let value = cursor.pointee.val, !ConnectionOptions.isSecret(name) { values[name] = String(cString: value) }
                    cursor += 1
                }
                PQconninfoFree(copy.pointer)
                let options = ConnectionOptions(values)
                state = .read(options)
                return options
            }
        }
    }

    deinit {
        state.withLock { state in
            if case .copied(let copy) = state { PQconninfoFree(copy.pointer) }
        }
    }
}
