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
    /// When no other operation is using the connection, the query is sent on the calling thread
    /// (libpq's non-blocking send), and an answer that comes at once is read there: while this
    /// connection's answers have been coming within 100 µs (a local round trip), the calling
    /// thread checks the socket without blocking for up to that long, which costs less CPU than
    /// the switch to another thread and back. Any other wait runs on the connection's queue, so
    /// a cooperative thread never blocks in `poll`. A connection made with `inlineWait:` (a
    /// one-shot tool) instead waits on the calling thread up to that long.
    /// Cancelling the task sends a cancel request to the server and waits for it to stop.
    /// - Throws: ``ConnectionError`` with code ``ConnectionError/Code/server`` and the server's
    ///   SQLSTATE, message, detail and hint; or ``ConnectionError/Code/connectionClosed``.
    public func query(_ sql: String, _ parameters: [(any QueryParameter)?] = []) async throws -> QueryResult {
        let operation = QueryOperation(handle: handle, waiter: waiter, sql: sql, parameters: parameters.map { $0?.postgresText })
        guard gate.tryEnter() else {
            return try await run { cancellation in try operation.complete(cancellation: cancellation) }
        }
        // This thread holds the gate: send, and read what is there without waiting (or, opted
        // in, waiting up to inlineWait).
        let cancellation = OperationCancellation()
        return try await withTaskCancellationHandler {
            let progress: QueryOperation.Progress
            do {
                progress = try operation.advance(until: .now + inlineWait, cancellation: cancellation)
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
            // The answer is not there yet: wait on the queue, still holding the gate.
            return try await withCheckedThrowingContinuation { continuation in
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
    /// When the query was fully written; cleared when the first of the answer is there.
    private var sentAt: ContinuousClock.Instant?
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

    /// How long an inline call checks for a quick answer without blocking (``spinForAnswer``),
    /// while the connection's recent answers came within it: a round trip to a server on the same
    /// machine or network. A query on such a connection then finishes on the calling thread with
    /// no thread switch; spinning up to this long costs less CPU than the switch to the
    /// connection's queue and back, and holds the cooperative thread no longer than a short query's
    /// own work does.
    static let spinLimit: Duration = .microseconds(100)

    /// Sends the query (once) and reads its results until it completes, or until a wait for the
    /// socket would pass `deadline` (then `.waiting`, with the state kept for the next call).
    /// An inline call (`deadline` given) checks for the answer without blocking (and spins for a
    /// quick one: ``spinForAnswer``), then waits in `poll` (with its timeout) only until
    /// `deadline`; with a deadline already past (the default, zero `inlineWait`), never.
    func advance(until deadline: ContinuousClock.Instant?, cancellation: OperationCancellation) throws -> Progress {
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
            if status == 0 {
                flushed = true
                sentAt = .now
                break
            }
            if status < 0 { throw Self.transportError(conn) }
            switch waiter.wait(socket: PQsocket(conn), read: true, write: true, deadline: deadline, cancellation: cancellation) {
            case .ready: guard PQconsumeInput(conn) == 1 else { throw Self.transportError(conn) }
            case .timedOut: return .waiting
            case .cancelled:
                guard deadline == nil else { return .waiting }  // cancel and drain on the queue, not on the caller's thread
                try Self.cancelAndDrain(handle: handle, conn: conn, waiter: waiter)
            }
        }

        if let deadline { try spinForAnswer(conn, spinning: deadline <= .now, cancellation: cancellation) }
        while true {
            while PQisBusy(conn) != 0 {
                switch waiter.wait(socket: PQsocket(conn), read: true, write: false, deadline: deadline, cancellation: cancellation) {
                case .ready:
                    noteAnswer()
                    guard PQconsumeInput(conn) == 1 else { throw Self.transportError(conn) }
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

    /// Reads what the server has already answered with non-blocking checks (`poll` with timeout
    /// 0, then `PQconsumeInput`): once, or with `spinning`, while the connection's recent answers
    /// were quick, repeatedly until ``spinLimit`` after the send. Returns when the answer is
    /// complete, the time is up or the task is cancelled; never sleeps.
    private func spinForAnswer(_ conn: OpaquePointer, spinning: Bool, cancellation: OperationCancellation) throws {
        guard let sentAt else { return }
        let until = spinning && handle.answerPace.isQuick ? sentAt + Self.spinLimit : sentAt
        var poller = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        while PQisBusy(conn) != 0, !cancellation.isCancelled {
            poller.revents = 0
            if poll(&poller, 1, 0) == 1 {
                noteAnswer()
                guard PQconsumeInput(conn) == 1 else { throw Self.transportError(conn) }
            } else if ContinuousClock.now >= until {
                return
            }
        }
    }

    /// The first of the answer is there: tells the connection's ``AnswerPace`` how long it took.
    private func noteAnswer() {
        guard let sentAt else { return }
        handle.answerPace.record(.now - sentAt)
        self.sentAt = nil
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

/// How quickly the server has been answering a connection's queries: a moving average (each
/// new sample weighs half) of the time from the end of a send to the first of its answer. It
/// decides whether the next query spins for its answer on the calling thread or goes straight to
/// the connection's queue, so slow queries waste no spinning: one answer slower than about
/// twice ``QueryOperation/spinLimit`` stops the spinning, and since each sample is capped at four
/// times the limit, two or three quick answers start it again.
struct AnswerPace {
    private var average: Duration = .zero

    mutating func record(_ wait: Duration) {
        average += (min(wait, QueryOperation.spinLimit * 4) - average) / 2
    }

    var isQuick: Bool { average <= QueryOperation.spinLimit }
}

/// Calls `body` with an array of C strings (or NULLs) that lives for the call.
func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    if strings.isEmpty { return body(nil) }
    let duplicates = strings.map { $0.map { strdup($0) } ?? nil }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
