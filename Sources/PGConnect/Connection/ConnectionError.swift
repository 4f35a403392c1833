/// A failure to build options, connect, or run a query, with libpq's and the server's words.
///
/// `message` is libpq's text verbatim for libpq's errors (connections use libpq's verbose error
/// mode, so a server error carries its SQLSTATE). Errors pgconnect raises itself (cancellation,
/// ``Code/overallTimeout``, a closed pool, options refused before libpq saw them) say so in
/// pgconnect's own words. `attempts` splits that text per connection attempt: libpq
/// accumulates one message per host tried and per retry, e.g. the plaintext retry of
/// `sslmode=prefer` after a TLS attempt failed.
///
/// `description` never contains a password or `sslpassword`: libpq does not print them, and
/// errors built from options name keywords, not secret values.
public struct ConnectionError: Error, Sendable, Hashable {
    /// An extensible error code; compare against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A conninfo string or URI libpq could not parse.
        public static let invalidConninfo = Code("invalid-conninfo")
        /// A keyword the linked libpq does not know.
        public static let unknownKeyword = Code("unknown-keyword")
        /// A value libpq cannot accept (e.g. contains a NUL byte).
        public static let invalidValue = Code("invalid-value")
        /// libpq refused the options before any network I/O (e.g. `invalid sslmode value`).
        public static let invalidOptions = Code("invalid-options")
        /// The connection attempt failed; see ``ConnectionError/phase`` and the message.
        public static let connectionFailed = Code("connection-failed")
        /// The server refused the login (SQLSTATE class 28, or 3D000/42501 during startup).
        public static let authenticationFailed = Code("authentication-failed")
        /// The client key is encrypted and no `sslpassword` was given (we never prompt).
        public static let keyPassphraseRequired = Code("key-passphrase-required")
        /// A time limit ran out before the operation finished. From a connect, this is libpq's
        /// `connect_timeout` for the last host tried, and ``ConnectionError/message`` is libpq's
        /// text (`connection to server at "…", port … failed: timeout expired`, as psql prints it);
        /// from a pool, its `acquireTimeout`.
        public static let timeout = Code("timeout")
        /// The caller's own overall limit on a connect (the `timeout` of
        /// ``Connection/connect(_:timeout:logger:inlineWait:)``) ran out first, before libpq gave
        /// up by itself: ``ConnectionError/message`` is pgconnect's words, not libpq's
        /// (e.g. `no answer within the overall limit of 30 s while negotiating TLS (no
        /// connect_timeout was set)`).
        public static let overallTimeout = Code("overall-timeout")
        /// The task was cancelled; the attempt was stopped.
        public static let cancelled = Code("cancelled")
        /// The server answered a query with an error.
        public static let server = Code("server-error")
        /// The connection broke or is closed.
        public static let connectionClosed = Code("connection-closed")
        /// The pool was shut down.
        public static let poolClosed = Code("pool-closed")
        /// libpq could not allocate memory.
        public static let outOfMemory = Code("out-of-memory")
    }

    /// One attempt inside libpq's accumulated connection error message.
    public struct Attempt: Sendable, Hashable {
        /// The header libpq printed, e.g. `connection to server at "127.0.0.1", port 5432 failed`.
        public var target: String?
        /// This attempt's text, verbatim, without the header.
        public var message: String
        /// Parsed from a server error in this attempt (`FATAL:  28000: ...`), if any.
        public var severity: String?
        /// The SQLSTATE, when the server sent an error in this attempt.
        public var sqlState: String?
        /// The primary message without severity and SQLSTATE.
        public var primary: String
        /// The server's DETAIL line, if any.
        public var detail: String?
        /// The server's HINT line, if any.
        public var hint: String?
    }

    /// What went wrong, in a stable code.
    public var code: Code
    /// Where the connection got to when it failed.
    public var phase: ConnectionPhase
    /// libpq's (or the server's) message, verbatim, for libpq's errors; pgconnect's own words for
    /// the errors it raises itself (e.g. ``Code/overallTimeout``, ``Code/cancelled``).
    public var message: String
    /// SQLSTATE of the server's error, if the server sent one.
    public var sqlState: String?
    /// Severity of the server's error (`FATAL`, `ERROR`, ...), if any.
    public var severity: String?
    /// The server's DETAIL, if any.
    public var detail: String?
    /// The server's HINT, if any.
    public var hint: String?
    /// Each attempt libpq made, in order (connection errors only).
    public var attempts: [Attempt]
    /// The TLS session of the last attempt that got through the handshake before the connection
    /// failed, read from libpq's own session: the server's chain and the client-certificate CAs it
    /// accepts. A TLS 1.3 server judges the client certificate only after the handshake, so its
    /// rejection (an alert, or the `cert` line's error) comes with this at no extra cost.
    public var handshake: TLSSession?

    /// Creates an error; `attempts` are parsed from `message` when not given.
    public init(code: Code, phase: ConnectionPhase, message: String, sqlState: String? = nil, severity: String? = nil,
                detail: String? = nil, hint: String? = nil, attempts: [Attempt]? = nil) {
        self.code = code
        self.phase = phase
        self.message = message
        self.attempts = attempts ?? Self.parseAttempts(message)
        let last = self.attempts.last(where: { $0.sqlState != nil })
        self.sqlState = sqlState ?? last?.sqlState
        self.severity = severity ?? last?.severity
        self.detail = detail ?? last?.detail
        self.hint = hint ?? last?.hint
    }

    /// The most specific single line: the last attempt's primary message.
    public var primaryMessage: String {
        attempts.last?.primary ?? message.trimmingWhitespace()
    }
}

/// How far a connection got.
public enum ConnectionPhase: String, Sendable, Hashable, Codable {
    /// Building or checking the options; nothing was sent.
    case options
    /// Resolving the host and opening TCP.
    case connecting
    /// Negotiating and performing the TLS handshake.
    case tls
    /// Startup packet sent; the server is authenticating the client.
    case authentication
    /// Logged in; the server is finishing startup.
    case startup
    /// Running a query on an open connection.
    case query
}

extension ConnectionError: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        var text = "\(code) during \(phase.rawValue): \(primaryMessage)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let hint { text += ". Hint: \(hint)" }
        return text
    }

    public var debugDescription: String {
        var text = "ConnectionError(code: \(code), phase: \(phase.rawValue)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        return text + ", message: \(message.debugDescription))"
    }
}

extension ConnectionError {
    /// Splits libpq's accumulated connection message into attempts.
    ///
    /// libpq (14+) starts each attempt with `connection to server at "H" (A), port P failed: ` or
    /// `connection to server on socket "S" failed: `; a message without such a header is one attempt.
    static func parseAttempts(_ message: String) -> [Attempt] {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var chunks: [(target: String?, lines: [String])] = []
        for line in lines {
            if line.hasPrefix("connection to server "), let range = line.firstScalarRange(of: " failed: ") ?? line.firstScalarRange(of: " failed:") {
                let target = String(line[..<range.lowerBound]) + " failed"
                chunks.append((target, [String(line[range.upperBound...])]))
            } else if chunks.isEmpty {
                chunks.append((nil, [line]))
            } else {
                chunks[chunks.count - 1].lines.append(line)
            }
        }
        return chunks.compactMap { chunk in
            let text = chunk.lines.joined(separator: "\n").trimmingWhitespace()
            if text.isEmpty && chunk.target == nil { return nil }
            return parseAttemptBody(target: chunk.target, text: text)
        }
    }

    private static let severities = ["FATAL", "ERROR", "PANIC", "WARNING", "NOTICE"]

    private static func parseAttemptBody(target: String?, text: String) -> Attempt {
        var attempt = Attempt(target: target, message: text, primary: text)
        var primaryLines: [String] = []
        var sawServerError = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !sawServerError, let (severity, rest) = splitSeverity(line) {
                sawServerError = true
                attempt.severity = severity
                var body = rest
                if body.count >= 7, isSQLState(body.prefix(5)), body.dropFirst(5).hasPrefix(": ") {
                    attempt.sqlState = String(body.prefix(5))
                    body = String(body.dropFirst(7))
                }
                primaryLines = [body]
            } else if line.hasPrefix("DETAIL:  ") {
                attempt.detail = String(line.dropFirst(9))
            } else if line.hasPrefix("HINT:  ") {
                attempt.hint = String(line.dropFirst(7))
            } else if line.hasPrefix("LOCATION:  ") {
                continue
            } else if !sawServerError || (attempt.detail == nil && attempt.hint == nil) {
                primaryLines.append(line)
            }
        }
        attempt.primary = primaryLines.joined(separator: "\n").trimmingWhitespace()
        return attempt
    }

    private static func splitSeverity(_ line: String) -> (String, String)? {
        for severity in severities where line.hasPrefix(severity + ":  ") {
            return (severity, String(line.dropFirst(severity.count + 3)))
        }
        return nil
    }

    private static func isSQLState(_ text: Substring) -> Bool {
        text.count == 5 && text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("A"..."Z").contains($0) }
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines.
    func trimmingWhitespace() -> String {
        var text = Substring(String(self))
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
