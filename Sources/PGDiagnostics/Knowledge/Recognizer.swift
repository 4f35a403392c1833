#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PGConnect

extension KnowledgeBase {
    /// Details read from a message.
    public struct Details: Sendable, Hashable {
        /// The first quoted file path.
        public var path: String?
        /// OpenSSL's verify reason, in whatever spelling the message used.
        public var reason: TLSVocabulary.Reason?
        /// What the TLS alert in the message says went wrong.
        public var alert: TLSVocabulary.Failure?
        /// How the connection arrived, as the server wrote it: `no encryption`, `SSL off`, `SSL encryption`, `SSL on`, `GSS encryption`.
        public var encryption: String?
        /// `provided user name (X) and authenticated user name (Y)`.
        public var providedUser: String?
        public var authenticatedUser: String?
        /// The text after the last `": ` of a file message (OpenSSL's or the OS's reason).
        public var loadReason: String?
    }

    /// A message recognised in one line (or one wrapped message) of text.
    public struct Recognition: Sendable {
        public var message: Message
        /// The text, without `psql: error:`, `connection to server … failed:` and log prefixes.
        public var text: String
        /// Who wrote it: the message's own side, else what the line shows (a log prefix, `SSL error:`).
        public var loggedBy: Side?
        /// Whose setup the cause is in, after reading the alert or reason by who logged it.
        public var about: Subject
        public var details: Details
        /// Candidate causes, most likely first.
        public var causes: [Cause]
        /// Why the order is what it is, when a detail decided it.
        public var reading: String?
    }

    /// The known message in `line`, read by who logged it (`side`, when the caller knows it: a live
    /// libpq failure is the client's).
    public static func recognize(_ line: String, loggedBy side: Side? = nil) -> Recognition? {
        let text = Normalized(line)
        guard !text.lower.isEmpty else { return nil }
        // The prefixes the normalised text drops (psql:, connection to server, a log prefix) show the side.
        let detected = side ?? Self.side(of: text.original.lowercased())
        let bytes = ByteText(text.lower)
        var best: (message: Message, score: Int)?
        for (message, patterns) in Glob.compiled {
            var length = 0
            for parts in patterns { length = max(length, Glob.match(parts, in: bytes) ?? 0) }
            guard length > 0 else { continue }
            var score = length
            if let own = message.loggedBy, let detected { score += own == detected ? 1000 : -500 }
            if score > best?.score ?? Int.min { best = (message, score) }
        }
        if best == nil, let state = sqlState(in: line), let message = Messages.all.first(where: { $0.sqlStates.contains(state) }) {
            best = (message, 0)
        }
        guard let message = best?.message else { return nil }
        return read(message, text: text, loggedBy: message.loggedBy ?? detected)
    }

    /// A SQLSTATE the knowledge base knows, written as verbose libpq (`FATAL:  28P01: …`), drivers
    /// (`28000: …`, `Code: 28000`, `SQLSTATE[28000]`, `State code: 28000`) or a CSV log write it.
    static func sqlState(in line: String) -> String? {
        let known = Set(Messages.bySQLState.flatMap(\.sqlStates))
        let scalars = Array(line.unicodeScalars.prefix(Normalized.lineLimit))
        guard scalars.count >= 5 else { return nil }
        func isWordScalar(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) }
        for start in 0...(scalars.count - 5) {
            let token = String(String.UnicodeScalarView(scalars[start..<start + 5]))
            guard known.contains(token) else { continue }
            if start > 0, isWordScalar(scalars[start - 1]) { continue }
            if start + 5 < scalars.count, isWordScalar(scalars[start + 5]) { continue }
            // Only where a SQLSTATE is written: "28000:" or "[28000]", or after "code"/"state".
            let before = String(String.UnicodeScalarView(scalars[max(0, start - 12)..<start])).lowercased()
            let after = start + 5 < scalars.count ? scalars[start + 5] : " "
            guard after == ":" || after == "]" || before.contains("code") || before.contains("state") else { continue }
            return token
        }
        return nil
    }

    /// Which side wrote a lower-cased line, when the line shows it.
    static let serverMarks = ["could not accept ssl connection", "client certificate verification failed", "connection to client lost",
                              "could not send data to client", "could not receive data from client", "database system is shut down", "configuration file",
                              "postmaster", "connection authenticated:", "connection received:", "connection authorized:"].map { Array($0.utf8) }
    static let clientMarks = ["ssl error:", "psql:", "pg_dump:", "pg_restore:", "connection to server", "could not connect to server", "operationalerror",
                              "failed to connect", "pq:", "error communicating", "error performing tls handshake"].map { Array($0.utf8) }

    static func side(of lowercased: String) -> Side? {
        let lower = ByteText(lowercased)
        if serverMarks.contains(where: { lower.find($0) != nil }) { return .server }
        if clientMarks.contains(where: { lower.find($0) != nil }) { return .client }
        // A server log line: "LOG:  …" or "<timestamp> … [pid] LOG:" (a client prints FATAL and ERROR lines too).
        if lowercased.hasPrefix("log:") || lower.contains("] log:") || lower.contains(" log: ") && lowercased.first?.isNumber == true { return .server }
        return nil
    }

    static func read(_ message: Message, text: Normalized, loggedBy: Side?) -> Recognition {
        let lower = text.lower
        var details = Details()
        details.path = quotedPath(in: text.original)
        details.reason = TLSVocabulary.reason(in: ByteText(lower))
        details.alert = TLSVocabulary.alert(in: lower)
        for encryption in ["no encryption", "ssl off", "ssl encryption", "ssl on", "gss encryption"] where lower.hasSuffix(encryption) || lower.contains(encryption + "\"") || lower.contains(", " + encryption) {
            details.encryption = encryption
            break
        }
        if let provided = between(text.original, "provided user name (", ") and authenticated user name (") {
            details.providedUser = provided
            details.authenticatedUser = between(text.original, "and authenticated user name (", ")")
        }
        if let colon = text.original.lastIndex(of: ":"), text.original[..<colon].hasSuffix("\"") || text.original[..<colon].hasSuffix(">>") {
            let reason = text.original[text.original.index(after: colon)...].trimmingScalars(in: .whitespaces)
            if !reason.isEmpty { details.loadReason = reason }
        }

        var about = message.about
        var preferred: [String] = []
        var reading: String?
        let reads = message.reads
        if reads.contains(.alert), let alert = details.alert {
            // Who sent the alert is the other side from who logged it: the client's log holds the
            // server's alert (about the client's certificate), the server's log the client's.
            about = loggedBy == .server ? .serverCertificate : .clientCertificate
            preferred = TLSVocabulary.causes(of: alert, about: about)
            if alert == .protocolVersion || alert == .noApplicationProtocol || alert == .handshakeFailure && loggedBy != .server { about = .negotiation }
            reading = loggedBy == .server
                ? "The server logged an alert the client sent: the client refused the server's certificate or parameters."
                : "The client received the alert from the server: the server refused what the client sent."
        }
        if reads.contains(.verifyReason), let reason = details.reason {
            let subject: Subject = message.id == "server.accept-verify-failed" || message.about == .clientCertificate && message.id.hasPrefix("server.")
                ? .clientCertificate : .serverCertificate
            about = subject
            preferred = TLSVocabulary.causes(of: reason.failure, about: subject)
            if reason.failure == .untrusted, subject == .serverCertificate, message.id == "libpq.verify-failed" {
                preferred = ["server-ca-unknown", "system-store-lacks-ca", "stale-root-crt"]
            }
            reading = "OpenSSL's reason: \(reason.spellings.first ?? "")\(reason.number.map { " (\($0))" } ?? "")."
        }
        if reads.contains(.namesClientCertificate), lower.contains("client certificate") || lower.contains("client cert") {
            if details.reason?.failure == .unsupportedVersion { preferred = ["client-cert-v1"] }
            about = .clientCertificate
        }
        if reads.contains(.encryption), let encryption = details.encryption {
            let plaintext = encryption == "no encryption" || encryption == "ssl off"
            if message.id == "server.hba-reject" {
                preferred = plaintext ? ["hba-reject-plaintext"] : ["hba-reject"]
            } else {
                preferred = plaintext ? ["hba-plaintext"] : ["hba-no-line"]
            }
            reading = plaintext
                ? "The connection arrived without TLS (\(encryption)): the fix is TLS on the client, never a plaintext line on the server."
                : "The connection arrived over TLS (\(encryption)): no line covers it."
        }
        if reads.contains(.userNames), let provided = details.providedUser, let authenticated = details.authenticatedUser,
           provided.count >= 2, provided.hasPrefix("\""), provided.hasSuffix("\""), provided != authenticated {
            preferred = ["quoted-user-name"]
            reading = "The provided user name contains double quotes: \(provided)."
        }
        if reads.contains(.path), let path = details.path {
            if isWindowsPathWithoutSeparators(path) {
                preferred = ["windows-path-eaten"]
                reading = "The path \(path) has a drive letter and no separators: its backslashes were eaten."
            } else if path.contains("/.postgresql/"), let home = path.firstScalarRange(of: "/.postgresql/").map({ String(path[..<$0.lowerBound]) }) {
                if message.id == "libpq.root-missing" || message.id == "driver.root-file" {
                    preferred = ["root-cert-missing-foreign-home", "root-cert-missing"]
                } else if message.id == "libpq.cert-open" || message.id == "server.file-denied" {
                    preferred = ["default-file-foreign-home", "file-unreadable"]
                }
                reading = "libpq looked for its default file under \(home): the home directory of the OS user (or the HOME) the program runs with."
            } else if message.id == "server.file-denied", loggedBy == .server || path.hasPrefix("/etc/ssl/") {
                preferred = ["server-key-unreadable"]
            }
        }
        switch message.id {
        case "libpq.weak-sslmode": preferred = lower.contains("sslnegotiation") ? ["weak-sslmode-direct"] : ["weak-sslmode-system"]
        case "libpq.sslcertmode": preferred = lower.contains("did not request") ? ["server-no-ca"] : ["sslcertmode-no-certificate"]
        case "libpq.require-auth": preferred = lower.contains("did not complete authentication") ? ["require-auth-no-exchange"] : ["require-auth-password-line"]
        case "server.startup-packet": preferred = lower.contains("without alpn") ? ["direct-ssl-no-alpn"] : []
        case "server.hostssl-without-ssl": preferred = lower.contains("requires ssl to be turned on") ? ["server-ssl-off-old"] : ["server-ssl-off"]
        default: break
        }
        if reads.contains(.loadReason), preferred.isEmpty, let reason = details.loadReason?.lowercased() {
            if reason.contains("key values mismatch") {
                preferred = message.about == .serverSetup ? ["server-key-cert-mismatch"] : ["key-cert-mismatch"]
            } else if reason.contains("no such file") {
                preferred = message.about == .serverSetup ? ["server-cert-file-missing"] : ["cert-not-pem"]
            } else if reason.contains("permission denied") {
                preferred = message.about == .serverSetup ? ["server-key-unreadable"] : ["file-unreadable", "default-file-foreign-home"]
            } else if reason.contains("key too small") || reason.contains("md too weak") {
                preferred = message.about == .serverSetup ? ["server-cert-weak"] : ["client-cert-weak"]
            } else if reason.contains("unknown public key type") || reason.contains("unsupported algorithm") {
                preferred = ["key-algorithm-unsupported"]
            } else if reason == "unsupported" || reason.contains("unsupported cipher") || reason.contains("unsupported private key") {
                preferred = ["key-format-unsupported"]
            } else if reason.contains("no start line") || reason.contains("bad base64") || reason.contains("asn1") || reason.contains("wrong tag") {
                preferred = message.about == .serverSetup ? ["server-cert-unloadable"] : ["cert-not-pem"]
            }
            if !preferred.isEmpty, reading == nil { reading = "The reason given: \(details.loadReason ?? "")." }
        }

        var ids: [String] = []
        // A verify reason or an alert names the failure: the causes it excludes are not listed.
        let decisive = !preferred.isEmpty && (reads.contains(.verifyReason) && details.reason != nil || reads.contains(.alert) && details.alert != nil)
        for id in preferred + (decisive ? [] : message.causes) where !ids.contains(id) && Causes.byID[id] != nil { ids.append(id) }
        return Recognition(message: message, text: text.stripped, loggedBy: loggedBy, about: about, details: details,
                           causes: ids.map(cause), reading: reading)
    }

    static func isWindowsPathWithoutSeparators(_ path: String) -> Bool {
        let scalars = Array(path.unicodeScalars)
        guard scalars.count > 3, scalars[0].properties.isAlphabetic, scalars[0].isASCII, scalars[1] == ":" else { return false }
        return !path.contains("/") && !path.contains("\\")
    }

    static func quotedPath(in text: String) -> String? {
        for opener in ["file \"", "file <<", "file «", "archivo <<", "archivo «", "file "] {
            guard let range = text.firstScalarRange(of: opener) else { continue }
            let rest = text[range.upperBound...]
            let closer: Character = opener.hasSuffix("<<") ? ">" : opener.hasSuffix("«") ? "»" : opener.hasSuffix("\"") ? "\"" : " "
            let path = rest.prefix { $0 != closer && $0 != "\n" }
            let trimmed = String(path).trimmingScalars(in: .whitespaces)
            let cleaned = trimmed.hasSuffix(".") && opener == "file " ? String(trimmed.dropLast()) : trimmed
            if cleaned.contains("/") || cleaned.contains("\\") || cleaned.contains(":") || cleaned.contains(".") { return cleaned }
        }
        return nil
    }

    static func between(_ text: String, _ open: String, _ close: String) -> String? {
        guard let start = text.firstScalarRange(of: open) else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstScalarRange(of: close) else { return nil }
        return String(rest[..<end.lowerBound])
    }
}

/// A line as typed, without the prefixes that do not matter, and its lower-cased, white-space-collapsed form.
struct Normalized {
    let original: String
    let stripped: String
    let lower: String

    /// Longer lines are cut to this many bytes: no message is longer, and a pasted log line can be huge.
    static let lineLimit = 8 << 10

    init(_ line: String) {
        let line = line.utf8.count > Self.lineLimit ? String(decoding: Array(line.utf8.prefix(Self.lineLimit)), as: UTF8.self) : line
        original = line
        stripped = Normalized.strip(line)
        var lower = ""
        var lastWasSpace = true
        for character in stripped.lowercased() {
            // Box-drawing borders of terminal screenshots, typographic quotes.
            let character: Character = character == "’" ? "'" : character == "“" || character == "”" ? "\"" : character
            if character.isWhitespace || character == "│" || character == "┃" {
                if !lastWasSpace { lower.append(" ") }
                lastWasSpace = true
            } else {
                lower.append(character)
                lastWasSpace = false
            }
        }
        while lower.hasSuffix(" ") { lower.removeLast() }
        self.lower = lower
    }

    /// Drops `psql: error:`, `connection to server … failed:`, log prefixes, severities and verbose SQLSTATEs.
    static func strip(_ line: String) -> String {
        var text = Substring(line.trimmingScalars(in: .whitespacesAndNewlines))
        while text.hasPrefix("│") || text.hasPrefix("┃") { text = text.dropFirst().drop { $0 == " " } }
        while text.hasSuffix("│") || text.hasSuffix("┃") { text = text.dropLast() }
        for prefix in ["psql: error: ", "psql: ", "error: "] where text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        if let range = text.firstScalarRange(of: "connection to server "), let failed = text[range.upperBound...].firstScalarRange(of: " failed: ") {
            text = text[failed.upperBound...]
        }
        for severity in ["FATAL:  ", "ERROR:  ", "LOG:  ", "DETAIL:  ", "WARNING:  ", "HINT:  ", "CONTEXT:  ", "FATAL: ", "LOG: ", "DETAIL: "] {
            if let range = text.firstScalarRange(of: severity) { text = text[range.upperBound...]; break }
        }
        if text.count > 6, text.prefix(5).allSatisfy({ $0.isUppercase || $0.isNumber }), text.dropFirst(5).hasPrefix(": ") {
            text = text.dropFirst(7)  // a SQLSTATE from verbose mode
        }
        return String(text).trimmingScalars(in: .whitespaces)
    }
}

/// Patterns with `*` for any text: the parts must appear in order.
enum Glob {
    /// Every message with its patterns split at `*` into UTF-8 parts, once.
    static let compiled: [(KnowledgeBase.Message, [[[UInt8]]])] = Messages.all.map { message in
        (message, message.patterns.map(parts))
    }

    static func parts(_ pattern: String) -> [[UInt8]] {
        pattern.split(separator: "*", omittingEmptySubsequences: true).map { Array($0.utf8) }
    }

    /// The number of literal bytes matched, or nil.
    static func match(_ parts: [[UInt8]], in text: ByteText) -> Int? {
        var position = 0
        var matched = 0
        for part in parts {
            guard let found = text.find(part, from: position) else { return nil }
            matched += part.count
            position = found + part.count
        }
        return matched
    }

    static func match(_ pattern: String, in text: String) -> Int? { match(parts(pattern), in: ByteText(text)) }
}

/// Lower-cased text as UTF-8 bytes, searched with memchr and memcmp: recognition runs several times per
/// failed check, so it must cost microseconds, not the generic collection search's milliseconds.
struct ByteText {
    let bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    /// The offset of the first `needle` at or after `start`.
    func find(_ needle: [UInt8], from start: Int = 0) -> Int? {
        guard start <= bytes.count else { return nil }
        if needle.isEmpty { return start }
        return bytes.withUnsafeBufferPointer { haystack in
            needle.withUnsafeBufferPointer { pattern in
                guard let base = haystack.baseAddress, let first = pattern.first, let rest = pattern.baseAddress.map({ $0 + 1 }) else { return nil }
                var position = start
                let last = haystack.count - pattern.count
                while position <= last {
                    // memchr finds the first byte, memcmp the rest.
                    guard let hit = memchr(base + position, Int32(first), last - position + 1) else { return nil }
                    let offset = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if pattern.count == 1 || memcmp(base + offset + 1, rest, pattern.count - 1) == 0 { return offset }
                    position = offset + 1
                }
                return nil
            }
        }
    }

    func contains(_ text: String) -> Bool { find(Array(text.utf8)) != nil }
}
