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
/// One operation at a time uses the connection, in the order they were asked for. Every blocking
/// wait for the server runs on the connection's own serial dispatch queue, in `poll`, so a slow
/// network, a slow query or a blocking DNS lookup inside libpq never holds one of Swift's
/// cooperative threads. What needs no wait runs on the calling thread: a query is sent there
/// (libpq's non-blocking send), and a quick answer is read there (while the connection's answers
/// come within 100 µs, the calling thread checks for it without blocking for up to that long:
/// see ``query(_:_:)``); a connect to an address (no name to look up) starts there. A one-shot
/// tool that runs nothing else meanwhile may opt in to waiting on the calling thread with
/// ``connect(_:timeout:logger:inlineWait:)``, which saves the thread switches. Cancelling the
/// calling task stops a connect or a query.
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

    /// How long this connection's operations may wait for the server on the calling thread (see
    /// ``connect(_:timeout:logger:inlineWait:)``); zero, the default, never waits there.
    public let inlineWait: Duration

    let handle: PGConnHandle
    let queue: DispatchQueue
    let waiter: SocketWaiter
    let gate = OperationGate()
    let logger: Logger

    private init(options: ConnectionOptions, conninfo: ConninfoSnapshot, timings: ConnectionTimings,
                 tlsSession: TLSSession?, serverVersion: Int, handle: PGConnHandle, queue: DispatchQueue,
                 waiter: SocketWaiter, inlineWait: Duration, logger: Logger) {
        self.options = options
        self.inlineWait = inlineWait
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
    ///   - timeout: pgconnect's own overall limit on the whole attempt, all hosts included: when
    ///     it runs out, ``ConnectionError/Code/overallTimeout`` (a message in pgconnect's words).
    ///     libpq's `connect_timeout` (from the options, a service file or `PGCONNECT_TIMEOUT`)
    ///     applies as well, per host and address, exactly as in libpq's blocking connect (see
    ///     ``ConnectTimeout``): when it runs out for the last host, ``ConnectionError/Code/timeout``
    ///     with libpq's message, as psql prints it. `nil`: only `connect_timeout` limits the
    ///     attempt (none when it is unset or 0, as in libpq).
    ///   - logger: receives connection events and server notices.
    ///   - inlineWait: how long the connect, and later each query, may wait for the server on the
    ///     calling thread (in `poll`, with that timeout) before moving to the connection's queue.
    ///     Keep the default, zero, in a service and in anything that runs other tasks meanwhile:
    ///     every wait then runs on the queue. A command-line tool that makes one connection and
    ///     runs nothing else meanwhile may pass its whole timeout and save the thread switches.
    /// - Throws: ``ConnectionError`` with libpq's message, the SQLSTATE of a server error, and
    ///   the phase reached; ``ConnectionError/Code/cancelled`` if the task is cancelled.
    public static func connect(_ options: ConnectionOptions, timeout: Duration? = nil,
                               logger: Logger = Logger(label: "pgconnect"),
                               inlineWait: Duration = .zero) async throws -> Connection {
        try options.validate()
        KeyPassphraseHook.install()
        let queue = DispatchQueue(label: "pgconnect.connection")
        let waiter = SocketWaiter()
        let operation = ConnectOperation(options: options, timeout: timeout,
                                         inlineWait: inlineWait, queue: queue, waiter: waiter, logger: logger)
        let cancellation = OperationCancellation()
        return try await withTaskCancellationHandler {
            // Without a host name to look up, libpq's start (a non-blocking TCP connect) and every
            // wait that ends within inlineWait run on the calling thread; the first wait past it
            // (with the default zero: the first wait) moves the attempt to the connection's queue.
            // A host name keeps the whole attempt on the queue: libpq resolves it with a blocking
            // getaddrinfo.
            if ConnectOperation.needsNoLookup(options),
               let connection = try operation.advance(inlineUntil: .now + inlineWait, cancellation: cancellation) {
                return connection
            }
            return try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try operation.complete(cancellation: cancellation) }) }
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

    // MARK: Connecting

    fileprivate static func finishConnect(options: ConnectionOptions, handle: PGConnHandle, pointer: OpaquePointer,
                                      timings: ConnectionTimings, tlsSession: TLSSession?, queue: DispatchQueue,
                                      waiter: SocketWaiter, inlineWait: Duration, logger: Logger) -> Connection {
        PQsetErrorVerbosity(pointer, PQERRORS_DEFAULT)
        _ = PQsetnonblocking(pointer, 1)
        handle.installNoticeReceiver()
        _ = KeyPassphraseHook.takeAskedWithoutPassword(pointer)
        let connection = Connection(options: options, conninfo: ConninfoSnapshot(pointer), timings: timings,
                                    tlsSession: PQsslInUse(pointer) != 0 ? tlsSession ?? TLSSession(pointer) : nil, serverVersion: Int(PQserverVersion(pointer)),
                                    handle: handle, queue: queue, waiter: waiter, inlineWait: inlineWait, logger: logger)
        logger.debug("connected", metadata: [
            "postgres.host": "\(String(cString: PQhost(pointer)))",
            "postgres.user": "\(String(cString: PQuser(pointer)))",
            "postgres.sslmode": "\(connection.effectiveOptions["sslmode"] ?? "")",
            "postgres.ssl": "\(connection.tlsSession?.protocolVersion ?? "off")",
            "postgres.phases_ms": "\(timings.phaseDurations.map { "\($0.phase)=\(($0.duration.milliseconds * 100).rounded() / 100)" }.joined(separator: " "))",
        ])
        return connection
    }

    fileprivate static func failure(_ handle: PGConnHandle, _ pointer: OpaquePointer, phase: ConnectionPhase,
                                handshake: TLSSession? = nil, earlierMessages: String = "", logger: Logger) -> ConnectionError {
        let message = earlierMessages + String(cString: PQerrorMessage(pointer))
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

/// One connection attempt through `PQconnectStartParams` and `PQconnectPoll`, which can stop at a
/// wait and go on later on another thread (see ``Connection/connect(_:timeout:logger:inlineWait:)``).
///
/// Two limits bound it: libpq's `connect_timeout`, per host and address, applied as libpq's own
/// blocking connect applies it (see ``ConnectTimeout``: its failure is libpq's text, code
/// ``ConnectionError/Code/timeout``), and the caller's overall `timeout` for the whole attempt
/// (``ConnectionError/Code/overallTimeout``, in pgconnect's words).
///
/// `@unchecked Sendable`: used by one thread at a time, handed from the caller's thread to the
/// connection's queue through `DispatchQueue.async`, which orders the two.
final class ConnectOperation: @unchecked Sendable {
    private let options: ConnectionOptions
    private let overallLimit: Duration?
    private let deadline: ContinuousClock.Instant?
    private let inlineWait: Duration
    private let queue: DispatchQueue
    private let waiter: SocketWaiter
    private let logger: Logger
    private var timings = ConnectionTimings()
    private var progress = ConnectProgress()
    private var handle: PGConnHandle?
    private var pollStatus = PGRES_POLLING_WRITING
    /// libpq's `connect_timeout` for the current `PGconn`.
    private var connectTimeout: ConnectTimeout?
    /// libpq's messages from connections given up after their `connect_timeout`, ending in
    /// `timeout expired`; the next connection's message follows them.
    private var earlierMessages = ""
    /// Options for a new connection to the hosts left after a `connect_timeout` expired.
    private var pendingRestart: ConnectionOptions?

    init(options: ConnectionOptions, timeout: Duration?, inlineWait: Duration, queue: DispatchQueue,
         waiter: SocketWaiter, logger: Logger) {
        self.options = options
        self.overallLimit = timeout
        self.deadline = timeout.map { ContinuousClock.now + $0 }
        self.inlineWait = inlineWait
        self.queue = queue
        self.waiter = waiter
        self.logger = logger
    }

    /// Whether libpq can start every host of `options` without a name lookup: each is an IP
    /// address, a Unix-socket directory or has a `hostaddr` (also from `PGHOST`/`PGHOSTADDR`);
    /// a service (whose file may name hosts) counts as a lookup.
    static func needsNoLookup(_ options: ConnectionOptions) -> Bool {
        func value(_ keyword: String, _ variable: String) -> String {
            if let given = options[keyword], !given.isEmpty { return given }
            return getenv(variable).map { String(cString: $0) } ?? ""
        }
        guard value("service", "PGSERVICE").isEmpty else { return false }
        let hosts = value("host", "PGHOST").split(separator: ",", omittingEmptySubsequences: false)
        let addresses = value("hostaddr", "PGHOSTADDR").split(separator: ",", omittingEmptySubsequences: false)
        for index in 0..<max(hosts.count, addresses.count) {
            if index < addresses.count, !addresses[index].isEmpty { continue }
            let host = index < hosts.count ? String(hosts[index]) : ""
            if host.isEmpty || host.hasPrefix("/") || host.hasPrefix("@") || isNumericAddress(host) { continue }
            return false
        }
        return true
    }

    private static func isNumericAddress(_ text: String) -> Bool {
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { bytes in
            inet_pton(AF_INET, text, bytes.baseAddress) == 1 || inet_pton(AF_INET6, text, bytes.baseAddress) == 1
        }
    }

    /// Runs the attempt to its end, waiting as long as libpq and the deadline allow.
    func complete(cancellation: OperationCancellation) throws -> Connection {
        guard let connection = try advance(inlineUntil: nil, cancellation: cancellation) else {
            throw ConnectionError(code: .connectionFailed, phase: progress.phase, message: "the connection attempt stopped without a result")
        }
        return connection
    }

    /// Starts the attempt (once) and polls it until it connects or fails; with `inlineUntil`,
    /// returns nil instead of waiting past that instant (or when cancelled), to be continued
    /// with ``complete(cancellation:)``.
    func advance(inlineUntil: ContinuousClock.Instant?, cancellation: OperationCancellation) throws -> Connection? {
        while true {
            if let restart = pendingRestart {
                // A new connection to the hosts left after a connect_timeout: a host name to look up
                // is resolved on the queue, never on the caller's thread.
                if inlineUntil != nil && !Self.needsNoLookup(restart) { return nil }
                pendingRestart = nil
                _ = try start(restart, cancellation)
            } else if handle == nil {
                _ = try start(options, cancellation)
            }
            guard let handle, let pointer = handle.pointer else {
                throw ConnectionError(code: .connectionClosed, phase: progress.phase, message: "the connection attempt was abandoned")
            }
            switch pollStatus {
            case PGRES_POLLING_OK:
                timings.ready = .now - timings.start
                if timings.authenticated == nil { timings.authenticated = timings.ready }
                return Connection.finishConnect(options: options, handle: handle, pointer: pointer, timings: timings,
                                                tlsSession: progress.handshake, queue: queue, waiter: waiter,
                                                inlineWait: inlineWait, logger: logger)
            case PGRES_POLLING_FAILED:
                throw Connection.failure(handle, pointer, phase: progress.phase, handshake: progress.handshake,
                                         earlierMessages: earlierMessages, logger: logger)
            default:
                let attemptDeadline = connectTimeout?.waitDeadline()
                let limit = [deadline, attemptDeadline, inlineUntil].compactMap { $0 }.min()
                let readiness = waiter.wait(socket: PQsocket(pointer), read: pollStatus == PGRES_POLLING_READING,
                                            write: pollStatus == PGRES_POLLING_WRITING, deadline: limit,
                                            cancellation: cancellation)
                switch readiness {
                case .ready:
                    pollStatus = PQconnectPoll(pointer)
                    progress.observe(pointer, timings: &timings)
                    connectTimeout?.observe(pointer)
                case .timedOut:
                    let now = ContinuousClock.now
                    // Whichever limit ran out first; the inline wait only moves the attempt to the queue.
                    let expired = [(deadline, false), (attemptDeadline, true)]
                        .compactMap { limit, isConnectTimeout in limit.flatMap { $0 <= now ? ($0, isConnectTimeout) : nil } }
                        .min { $0.0 < $1.0 }
                    switch expired {
                    case nil:
                        return nil  // only the inline wait is over: go on on the queue
                    case (_, true)?:
                        try connectTimeoutExpired(handle, pointer)
                    case (_, false)?:
                        handle.finish()
                        throw overallTimeout()
                    }
                case .cancelled where inlineUntil != nil:
                    return nil  // cancelled on the queue, where waiting for libpq to stop is allowed
                case .cancelled:
                    handle.finish()
                    throw ConnectionError(code: .cancelled, phase: progress.phase,
                                          message: "the connection attempt was cancelled while \(progress.phase.activity)")
                }
            }
        }
    }

    /// libpq's `connect_timeout` ran out for the current host entry: what libpq's blocking connect
    /// does — append `timeout expired` to the connection's message and try the next host — with a
    /// new connection to the entries left (see ``ConnectTimeout``), or fail with libpq's message
    /// when none is left.
    private func connectTimeoutExpired(_ handle: PGConnHandle, _ pointer: OpaquePointer) throws {
        // pqWaitTimed: appendPQExpBufferStr(&conn->errorMessage, libpq_gettext("timeout expired\n"))
        let message = earlierMessages + String(cString: PQerrorMessage(pointer)) + "timeout expired\n"
        let remaining = connectTimeout.flatMap { $0.hasMoreEntries ? $0.optionsForRemainingEntries(options) : nil }
        let host = String(cString: PQhost(pointer))
        // No answer to the SSLRequest yet (no TLS session started): still the network.
        let phase = PQstatus(pointer) == CONNECTION_SSL_STARTUP && PQsslInUse(pointer) == 0 ? .connecting : progress.phase
        handle.finish()
        logger.debug("connect_timeout expired", metadata: [
            "postgres.host": "\(host)", "postgres.phase": "\(progress.phase.rawValue)",
            "postgres.connect_timeout": "\(connectTimeout?.text ?? "")", "postgres.next_hosts": "\(remaining?["host"] ?? remaining?["hostaddr"] ?? "")",
        ])
        guard let remaining else {
            var error = ConnectionError(code: .timeout, phase: phase, message: message)
            error.handshake = progress.handshake
            throw error
        }
        earlierMessages = message
        pendingRestart = remaining
    }

    /// The caller's overall limit ran out (libpq's `connect_timeout`, if any, had not): said in
    /// pgconnect's words, never as libpq's.
    private func overallTimeout() -> ConnectionError {
        let limit = overallLimit.map(Self.seconds) ?? "?"
        let libpqLimit = connectTimeout?.seconds.map { "libpq's connect_timeout of \($0) s per host had not run out" }
            ?? "no connect_timeout was set"
        var error = ConnectionError(code: .overallTimeout, phase: progress.phase,
                                    message: "no answer within the overall limit of \(limit) while \(progress.phase.activity) (\(libpqLimit))")
        error.handshake = progress.handshake
        return error
    }

    /// `30 s`, `0.3 s`.
    private static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(Double(milliseconds) / 1000) s"
    }

    /// `PQconnectStartParams` (libpq resolves and connects to the first host in it), then libpq's
    /// effective `connect_timeout`, read back from the connection.
    private func start(_ options: ConnectionOptions, _ cancellation: OperationCancellation) throws -> PGConnHandle {
        if cancellation.isCancelled {
            throw ConnectionError(code: .cancelled, phase: handle == nil ? .options : progress.phase,
                                  message: handle == nil ? "the connection attempt was cancelled before it started"
                                      : "the connection attempt was cancelled while \(progress.phase.activity)")
        }
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
        self.handle = handle
        pollStatus = PGRES_POLLING_WRITING
        connectTimeout = nil
        if timings.resolved == nil { timings.resolved = .now - timings.start }
        PQsetErrorVerbosity(pointer, PQERRORS_VERBOSE)
        if PQstatus(pointer) == CONNECTION_BAD {
            // libpq refused the options, or every host failed inside PQconnectStartParams.
            throw Connection.failure(handle, pointer, phase: progress.phaseForImmediateFailure(pointer),
                                     earlierMessages: earlierMessages, logger: logger)
        }
        do {
            connectTimeout = try ConnectTimeout(pointer)
        } catch {
            // What libpq's blocking connect does with a connect_timeout it cannot parse: append its
            // line to the connection's message and fail.
            let message = earlierMessages + String(cString: PQerrorMessage(pointer)) + error.libpqLine
            handle.finish()
            logger.debug("connection failed", metadata: ["postgres.phase": "options", "postgres.code": "\(ConnectionError.Code.invalidOptions)"])
            throw ConnectionError(code: .invalidOptions, phase: .options, message: message)
        }
        progress.observe(pointer, timings: &timings)
        connectTimeout?.observe(pointer)
        return handle
    }
}
