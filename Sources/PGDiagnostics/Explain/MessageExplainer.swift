import PGConnect

/// Explains a pasted error message — from psql, an application or the server log — without
/// connecting: the causes it can have, most likely first, how to tell them apart, and the fixes.
public struct MessageExplainer: Sendable {
    /// One recognised message in the text.
    public struct Finding: Sendable, Hashable {
        /// The message as found (one attempt or log line, without `connection to server…` prefixes).
        public var message: String
        public var meaning: String
        /// Possible causes, most likely first.
        public var causes: [MessageCatalog.Cause]
        /// Context, e.g. that this is the plaintext retry of sslmode=prefer.
        public var note: String?
    }

    /// Larger input is cut to this many bytes (a pasted log can be huge).
    public static let inputLimit = 1 << 20

    public init() {}

    /// The findings in `text`, in order; empty when nothing is recognised.
    public func explain(_ text: String) -> [Finding] {
        let text = text.utf8.count > Self.inputLimit ? String(decoding: Array(text.utf8.prefix(Self.inputLimit)), as: UTF8.self) : text
        let attempts = ConnectionError(code: .connectionFailed, phase: .authentication, message: text).attempts
        var findings: [Finding] = []
        var seen = Set<String>()
        for attempt in attempts {
            // A log or a paste can hold many lines; each line may be its own message.
            let lines = attempt.target == nil ? attempt.message.split(separator: "\n").map(String.init) : [attempt.message]
            for line in lines {
                guard let finding = Self.match(line) else { continue }
                guard seen.insert(finding.message).inserted else { continue }
                findings.append(finding)
            }
        }
        // sslmode=prefer/allow: the plaintext retry's "no encryption" hides the TLS attempt's cause.
        if findings.count > 1, let index = findings.firstIndex(where: { $0.causes.first?.code == .hbaNoEntry && $0.message.hasSuffix("no encryption") }) {
            findings[index].note = "This is most likely the plaintext retry of sslmode=prefer (or allow) after the attempt above failed: the cause is in that earlier message."
            let retry = findings.remove(at: index)
            findings.append(retry)
        }
        return findings
    }

    static func match(_ line: String) -> Finding? {
        let message = strip(line)
        guard !message.isEmpty else { return nil }
        for entry in MessageCatalog.entries where entry.fragments.contains(where: message.contains) {
            return Finding(message: message, meaning: entry.meaning, causes: entry.causes)
        }
        if message.contains("role \""), message.hasSuffix("does not exist") {
            return Finding(message: message, meaning: "Authentication passed; the role does not exist.",
                           causes: [.init(code: .roleMissing, layer: .authorization, cause: "No role of that name (or a typo in user=).",
                                          howToTell: "SELECT rolname FROM pg_roles", fixes: ["CREATE ROLE name LOGIN; or log in as an existing role."])])
        }
        if message.contains("database \""), message.hasSuffix("does not exist") {
            return Finding(message: message, meaning: "Authentication passed; the database does not exist.",
                           causes: [.init(code: .databaseMissing, layer: .authorization,
                                          cause: "No database of that name (libpq's default database is the user name).",
                                          howToTell: "SELECT datname FROM pg_database", fixes: ["Use dbname=postgres or create the database."])])
        }
        return nil
    }

    /// Drops `psql: error:`, `connection to server … failed:`, log prefixes and severities.
    static func strip(_ line: String) -> String {
        var text = Substring(line)
        for prefix in ["psql: error: ", "psql: ", "error: "] where text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        if text.hasPrefix("connection to server "), let range = text.firstScalarRange(of: " failed: ") { text = text[range.upperBound...] }
        for severity in ["FATAL:  ", "ERROR:  ", "LOG:  ", "DETAIL:  ", "WARNING:  "] {
            if let range = text.firstScalarRange(of: severity) { text = text[range.upperBound...] }
        }
        if text.count > 6, text.prefix(5).allSatisfy({ $0.isUppercase || $0.isNumber }), text.dropFirst(5).hasPrefix(": ") {
            text = text.dropFirst(7)  // a SQLSTATE from verbose mode
        }
        return text.trimmingScalars(in: .whitespaces)
    }
}

/// Text and JSON for ``MessageExplainer`` findings.
public enum ExplanationRenderer {
    public static func text(_ findings: [MessageExplainer.Finding]) -> String {
        guard !findings.isEmpty else {
            return "Not recognised. pgconnect knows libpq's, the server's and OpenSSL's messages about certificate logins; paste the whole message, or run pgconnect-check with the same connection options to diagnose it live.\n"
        }
        var lines: [String] = []
        for finding in findings {
            lines.append("Message: \(finding.message)")
            lines.append("  \(finding.meaning)")
            if let note = finding.note { lines.append("  Note: \(note)") }
            lines.append(finding.causes.count == 1 ? "  Cause:" : "  Possible causes, most likely first:")
            for (index, cause) in finding.causes.enumerated() {
                lines.append("  \(index + 1). \(cause.cause)  [\(cause.code.rawValue), layer \(cause.layer.rawValue)]")
                lines.append("     tell: \(cause.howToTell)")
                for fix in cause.fixes { lines.append("     fix:  \(fix)") }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ findings: [MessageExplainer.Finding]) -> String {
        JSONValue.object([
            ("recognised", .bool(!findings.isEmpty)),
            ("findings", .array(findings.map { finding in
                .object([
                    ("message", .string(finding.message)),
                    ("meaning", .string(finding.meaning)),
                    ("note", .string(finding.note)),
                    ("causes", .array(finding.causes.map { cause in
                        .object([
                            ("code", .string(cause.code.rawValue)),
                            ("layer", .string(cause.layer.rawValue)),
                            ("cause", .string(cause.cause)),
                            ("how_to_tell", .string(cause.howToTell)),
                            ("fixes", .array(cause.fixes.map { .string($0) })),
                        ])
                    })),
                ])
            })),
        ]).serialized(indent: 2)
    }
}
