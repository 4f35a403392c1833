#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibPQ

extension Connection {
    /// Runs `sql` with `$1`, `$2`, … bound to `parameters` in text format (`PQsendQueryParams`;
    /// `PQexecParams` semantics: one statement, server-side parameter binding, no SQL injection).
    ///
    /// ```swift
    /// let result = try await connection.query("SELECT $1::int + 1 AS n", [41])
    /// result[0]["n"]?.int  // 42
    /// ```
    /// When no other operation is using the connection, the query is sent and its answer read on
    /// the calling thread as long as each wait for the server stays within
    /// ``Connection/inlineWait``; a longer wait moves the rest to the connection's queue.
    /// Cancelling the task sends a cancel request to the server and waits for it to stop.
    /// - Throws: ``ConnectionError`` with code ``ConnectionError/Code/server`` and the server's
    ///   SQLSTATE, message, detail and hint; or ``ConnectionError/Code/connectionClosed``.
    public func query(_ sql: String, _ parameters: [(any QueryParameter)?] = []) async throws -> QueryResult {
        let operation = QueryOperation(handle: handle, waiter: waiter, sql: sql, parameters: parameters.map { $0?.postgresText })
        guard gate.tryEnter() else {
            return try await run { cancellation in try operation.complete(cancellation: cancellation) }
        }
        // The fast path: this thread holds the gate.
        let cancellation = OperationCancellation()
        let progress: QueryOperation.Progress
        do {
            progress = try await withTaskCancellationHandler {
                try operation.advance(until: .now + inlineWait, cancellation: cancellation)
            } onCancel: { [waiter] in
                waiter.cancel(cancellation)
            }
        } catch {
            handle.noteStatus()
            gate.leave()
            throw error
        }
        if case .done(let result) = progress {
            handle.noteStatus()
            gate.leave()
            return result
        }
        // The server takes longer: wait on the queue, still holding the gate.
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                finishOnQueue({ cancellation in try operation.complete(cancellation: cancellation) },
                              cancellation: cancellation, continuation)
            }
        } onCancel: { [waiter] in
            waiter.cancel(cancellation)
        }
    }
}

/// One query's exchange with libpq, which can stop at a wait and go on later on another thread.
///
/// `@unchecked Sendable`: used only by the operation holding the connection's gate, one thread at
/// a time; the gate's lock orders one thread's use before the next.
final class QueryOperation: @unchecked Sendable {
    enum Progress {
        case done(QueryResult)
        /// A wait for the socket would pass the deadline: call again to go on.
        case waiting
    }

    private let handle: PGConnHandle
    private let waiter: SocketWaiter
    private let sql: String
    private let parameters: [String?]
    private var sent = false
    private var flushed = false
    private var last: ResultHandle?
    private var firstError: ConnectionError?

    init(handle: PGConnHandle, waiter: SocketWaiter, sql: String, parameters: [String?]) {
        self.handle = handle
        self.waiter = waiter
        self.sql = sql
        self.parameters = parameters
    }

    /// Runs the query to its end, waiting as long as it takes.
    func complete(cancellation: OperationCancellation) throws -> QueryResult {
        guard case .done(let result) = try advance(until: nil, cancellation: cancellation) else {
            throw ConnectionError(code: .connectionClosed, phase: .query, message: "the query stopped without a result")
        }
        return result
    }

    /// Sends the query (once) and reads its results until it completes, or until a wait for the
    /// socket would pass `deadline` (then `.waiting`, with the state kept for the next call).
    /// An inline call (`deadline` given) waits without a timer of its own: the process's
    /// ``InlineWaitWatchdog`` ends its waits once `deadline` has passed.
    func advance(until deadline: ContinuousClock.Instant?, cancellation: OperationCancellation) throws -> Progress {
        let watch = deadline.map { InlineWaitWatchdog.Ticket(deadline: $0, waiter: waiter) }
        if let watch { InlineWaitWatchdog.shared.watch(watch) }
        defer { if let watch { InlineWaitWatchdog.shared.release(watch) } }
        guard let conn = handle.pointer, PQstatus(conn) == CONNECTION_OK else {
            throw ConnectionError(code: .connectionClosed, phase: .query, message: "the connection is closed")
        }
        if !sent {
            if cancellation.isCancelled {
                throw ConnectionError(code: .cancelled, phase: .query, message: "the query was cancelled before it was sent")
            }
            guard !sql.utf8.contains(0), !parameters.contains(where: { $0?.utf8.contains(0) ?? false }) else {
                throw ConnectionError(code: .invalidValue, phase: .query,
                                      message: "the query or one of its parameters contains a NUL byte, which PostgreSQL text cannot hold")
            }
            // withCString: a short query is a small string, which the implicit conversion would
            // copy into a new array on every call; withCString uses the stack.
            let accepted: Int32 = sql.withCString { text in
                withOptionalCStrings(parameters) { values in
                    PQsendQueryParams(conn, text, Int32(parameters.count), nil, values, nil, nil, 0)
                }
            }
            guard accepted == 1 else { throw Self.transportError(conn) }
            sent = true
        }

        // Flush what libpq could not write at once, reading meanwhile so the server never blocks on us.
        while !flushed {
            let status = PQflush(conn)
            if status == 0 { flushed = true; break }
            if status < 0 { throw Self.transportError(conn) }
            switch waiter.wait(socket: PQsocket(conn), read: true, write: true, deadline: nil, cancellation: cancellation,
                               watch: watch) {
            case .ready: guard PQconsumeInput(conn) == 1 else { throw Self.transportError(conn) }
            case .timedOut: return .waiting
            case .cancelled:
                guard deadline == nil else { return .waiting }  // cancel and drain on the queue, not on the caller's thread
                try Self.cancelAndDrain(handle: handle, conn: conn, waiter: waiter)
            }
        }

        while true {
            while PQisBusy(conn) != 0 {
                switch waiter.wait(socket: PQsocket(conn), read: true, write: false, deadline: nil, cancellation: cancellation,
                                   watch: watch) {
                case .ready: guard PQconsumeInput(conn) == 1 else { throw Self.transportError(conn) }
                case .timedOut: return .waiting
                case .cancelled:
                    guard deadline == nil else { return .waiting }
                    try Self.cancelAndDrain(handle: handle, conn: conn, waiter: waiter)
                }
            }
            guard let result = PQgetResult(conn) else { break }
            let owned = ResultHandle(result)
            switch PQresultStatus(result) {
            case PGRES_FATAL_ERROR, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR:
                if firstError == nil { firstError = Self.serverError(owned) }
            default:
                last = owned
            }
        }
        if let firstError { throw firstError }
        guard let last else { throw Self.transportError(conn) }
        return .done(QueryResult(last))
    }

    /// Asks the server to cancel the running query, waits for libpq to finish the exchange,
    /// and throws ``ConnectionError/Code/cancelled``. A connection that does not settle within
    /// five seconds is closed rather than left in an unknown state.
    static func cancelAndDrain(handle: PGConnHandle, conn: OpaquePointer, waiter: SocketWaiter) throws -> Never {
        if let cancel = PQgetCancel(conn) {
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel, &buffer, Int32(buffer.count))
            PQfreeCancel(cancel)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        let uncancellable = OperationCancellation()
        drain: while true {
            while PQisBusy(conn) != 0 {
                guard waiter.wait(socket: PQsocket(conn), read: true, write: false, deadline: deadline,
                                  cancellation: uncancellable) == .ready, PQconsumeInput(conn) == 1 else {
                    handle.finish()
                    break drain
                }
            }
            guard let result = PQgetResult(conn) else { break }
            PQclear(result)
        }
        throw ConnectionError(code: .cancelled, phase: .query, message: "the query was cancelled")
    }

    private static func serverError(_ result: ResultHandle) -> ConnectionError {
        let field = { (code: UInt8) -> String? in
            PQresultErrorField(result.pointer, Int32(code)).map { String(cString: $0) }
        }
        let message = String(cString: PQresultErrorMessage(result.pointer)).trimmingWhitespace()
        let primary = field(UInt8(ascii: "M")) ?? message
        return ConnectionError(code: .server, phase: .query, message: message,
                               sqlState: field(UInt8(ascii: "C")), severity: field(UInt8(ascii: "V")) ?? field(UInt8(ascii: "S")),
                               detail: field(UInt8(ascii: "D")), hint: field(UInt8(ascii: "H")),
                               attempts: [.init(target: nil, message: message, severity: field(UInt8(ascii: "V")),
                                                sqlState: field(UInt8(ascii: "C")), primary: primary,
                                                detail: field(UInt8(ascii: "D")), hint: field(UInt8(ascii: "H")))])
    }

    private static func transportError(_ conn: OpaquePointer) -> ConnectionError {
        let message = String(cString: PQerrorMessage(conn)).trimmingWhitespace()
        let code: ConnectionError.Code = PQstatus(conn) == CONNECTION_OK ? .server : .connectionClosed
        return ConnectionError(code: code, phase: .query, message: message.isEmpty ? "the connection was lost" : message)
    }
}

/// Calls `body` with an array of C strings (or NULLs) that lives for the call.
func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    if strings.isEmpty { return body(nil) }
    let duplicates = strings.map { $0.map { strdup($0) } ?? nil }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
