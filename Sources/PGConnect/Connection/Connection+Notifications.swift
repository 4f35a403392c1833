import CLibPQ

/// A notification from `NOTIFY` on a channel this connection listens on.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel name.
    public var channel: String
    /// The payload (empty when none was given).
    public var payload: String
    /// The process ID of the notifying server backend.
    public var processID: Int32
}

extension Connection {
    /// `LISTEN channel` (the name is quoted as an identifier).
    public func listen(_ channel: String) async throws {
        _ = try await query("LISTEN \(Self.quoteIdentifier(channel))")
    }

    /// `UNLISTEN channel`.
    public func unlisten(_ channel: String) async throws {
        _ = try await query("UNLISTEN \(Self.quoteIdentifier(channel))")
    }

    /// Notifications on the channels this connection listens on, as they arrive.
    ///
    /// ```swift
    /// try await connection.listen("jobs")
    /// for try await notification in connection.notifications() {
    ///     print(notification.channel, notification.payload)
    /// }
    /// ```
    /// Waiting for the next notification holds the connection (queries issued meanwhile wait
    /// their turn); cancelling the task ends the sequence. Notifications that arrive during a
    /// query are kept and delivered next.
    public func notifications() -> NotificationSequence { NotificationSequence(connection: self) }

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingScalars("\"", with: "\"\"") + "\""
    }

    /// Waits (on the connection's queue, holding it) for the next notification; nil when cancelled.
    func nextNotification() async throws -> PostgresNotification? {
        let handle = self.handle, waiter = self.waiter
        return try await run { cancellation in
            guard let conn = handle.pointer, PQstatus(conn) == CONNECTION_OK else {
                throw ConnectionError(code: .connectionClosed, phase: .query, message: "the connection is closed")
            }
            while true {
                if let notify = PQnotifies(conn) {
                    defer { PQfreemem(notify) }
                    return PostgresNotification(channel: String(cString: notify.pointee.relname),
                                                payload: notify.pointee.extra.map { String(cString: $0) } ?? "",
                                                processID: notify.pointee.be_pid)
                }
                switch waiter.wait(socket: PQsocket(conn), read: true, write: false, deadline: nil, cancellation: cancellation) {
                case .ready:
                    guard PQconsumeInput(conn) == 1 else {
                        throw ConnectionError(code: .connectionClosed, phase: .query,
                                              message: String(cString: PQerrorMessage(conn)).trimmingWhitespace())
                    }
                case .cancelled, .timedOut:
                    return nil
                }
            }
        }
    }
}

/// The notifications of one connection (see ``Connection/notifications()``).
public struct NotificationSequence: AsyncSequence, Sendable {
    public typealias Element = PostgresNotification
    let connection: Connection

    public struct AsyncIterator: AsyncIteratorProtocol {
        let connection: Connection
        public mutating func next() async throws -> PostgresNotification? {
            if Task.isCancelled { return nil }
            return try await connection.nextNotification()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(connection: connection) }
}
