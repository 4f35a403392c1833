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
    /// Cancelling the task sends a cancel request to the server and waits for it to stop.
    /// - Throws: ``ConnectionError`` with code ``ConnectionError/Code/server`` and the server's
    ///   SQLSTATE, message, detail and hint; or ``ConnectionError/Code/connectionClosed``.
    public func query(_ sql: String, _ parameters: [(any QueryParameter)?] = []) async throws -> QueryResult {
        let texts = parameters.map { $0?.postgresText }
        let handle = self.handle, waiter = self.waiter
        return try await Connection.perform(on: queue, waiter: waiter) { cancellation in
            try Connection.queryBlocking(handle: handle, waiter: waiter, sql: sql, parameters: texts, cancellation: cancellation)
        }
    }

    static func queryBlocking(handle: PGConnHandle, waiter: SocketWaiter, sql: String, parameters: [String?],
                              cancellation: OperationCancellation) throws -> QueryResult {
        guard let conn = handle.pointer, PQstatus(conn) == CONNECTION_OK else {
            throw ConnectionError(code: .connectionClosed, phase: .query, message: "the connection is closed")
        }
        if cancellation.isCancelled {
            throw ConnectionError(code: .cancelled, phase: .query, message: "the query was cancelled before it was sent")
        }
        guard !sql.utf8.contains(0), !parameters.contains(where: { $0?.utf8.contains(0) ?? false }) else {
            throw ConnectionError(code: .invalidValue, phase: .query,
                                  message: "the query or one of its parameters contains a NUL byte, which PostgreSQL text cannot hold")
        }
        let sent: Int32 = withOptionalCStrings(parameters) { values in
            PQsendQueryParams(conn, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw transportError(conn) }

        // Flush what libpq could not write at once, reading meanwhile so the server never blocks on us.
        while true {
            let flushed = PQflush(conn)
            if flushed == 0 { break }
            if flushed < 0 { throw transportError(conn) }
            switch waiter.wait(socket: PQsocket(conn), read: true, write: true, deadline: nil, cancellation: cancellation) {
            case .ready: guard PQconsumeInput(conn) == 1 else { throw transportError(conn) }
            case .cancelled, .timedOut: return try cancelAndDrain(handle: handle, conn: conn, waiter: waiter)
            }
        }

        var last: ResultHandle?
        var firstError: ConnectionError?
        while true {
            while PQisBusy(conn) != 0 {
                switch waiter.wait(socket: PQsocket(conn), read: true, write: false, deadline: nil, cancellation: cancellation) {
                case .ready: guard PQconsumeInput(conn) == 1 else { throw transportError(conn) }
                case .cancelled, .timedOut: return try cancelAndDrain(handle: handle, conn: conn, waiter: waiter)
                }
            }
            guard let result = PQgetResult(conn) else { break }
            let owned = ResultHandle(result)
            switch PQresultStatus(result) {
            case PGRES_FATAL_ERROR, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR:
                if firstError == nil { firstError = serverError(owned) }
            default:
                last = owned
            }
        }
        if let firstError { throw firstError }
        guard let last else { throw transportError(conn) }
        return QueryResult(last)
    }

    /// Asks the server to cancel the running query, waits for libpq to finish the exchange,
    /// and throws ``ConnectionError/Code/cancelled``. A connection that does not settle within
    /// five seconds is closed rather than left in an unknown state.
    private static func cancelAndDrain(handle: PGConnHandle, conn: OpaquePointer, waiter: SocketWaiter) throws -> QueryResult {
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
