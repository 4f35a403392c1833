import PGConnect

/// Explains a pasted error message — from psql, an application, another driver or the server log —
/// without connecting, through the ``KnowledgeBase``: the causes it can have, most likely first,
/// how to tell them apart, and the fixes.
///
/// A pasted block is read as one story: each line is recognised by who logged it, DETAIL lines
/// join the line they belong to, and lines that are consequences of another (the FATAL after the
/// server's LOG line, the plaintext retry of `sslmode=prefer`, the shutdown after a startup
/// failure) come after their cause.
public struct MessageExplainer: Sendable {
    /// One recognised message in the text.
    public struct Finding: Sendable {
        /// The message as found (without `psql: error:`, `connection to server…` and log prefixes).
        public var message: String
        public var meaning: String
        /// Possible causes, most likely first.
        public var causes: [KnowledgeBase.Cause]
        /// Context: that this line is the consequence of another, or which detail decided the order.
        public var note: String?
        /// The knowledge base's name for the message.
        public var messageID: String
        /// Who wrote it, when known.
        public var loggedBy: KnowledgeBase.Side?
        /// Whose setup holds the cause.
        public var about: KnowledgeBase.Subject
        /// Whether another finding in the same text is its cause.
        public var isConsequence: Bool
    }

    /// Larger input is cut to this many bytes (a pasted log can be huge).
    public static let inputLimit = 1 << 20

    public init() {}

    /// The findings in `text`, causes before consequences; empty when nothing is recognised.
    public func explain(_ text: String) -> [Finding] {
        let text = text.utf8.count > Self.inputLimit ? String(decoding: Array(text.utf8.prefix(Self.inputLimit)), as: UTF8.self) : text
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init)
        var findings: [Finding] = []
        var seen = Set<String>()
        var index = 0
        while index < lines.count {
            var recognition = KnowledgeBase.recognize(lines[index])
            // A message wrapped over two lines.
            if recognition == nil, index + 1 < lines.count, KnowledgeBase.recognize(lines[index + 1]) == nil {
                recognition = KnowledgeBase.recognize(lines[index] + " " + lines[index + 1])
                if recognition != nil { index += 1 }
            }
            index += 1
            guard let recognition else { continue }
            let isDetail = Self.isDetailLine(lines[index - 1])
            // A DETAIL of the line before (e.g. the server's verify failure and its depth and reason)
            // makes that finding more precise instead of standing alone.
            if isDetail, let last = findings.indices.last, findings[last].messageID == recognition.message.id {
                findings[last] = Self.finding(recognition, message: findings[last].message + "\n" + recognition.text)
                continue
            }
            guard seen.insert(recognition.message.id + "\u{0}" + recognition.text).inserted else { continue }
            findings.append(Self.finding(recognition, message: recognition.text))
        }
        if findings.isEmpty {
            // A message wrapped over many lines.
            let joined = lines.joined(separator: " ")
            if lines.count > 1, let recognition = KnowledgeBase.recognize(joined) { findings.append(Self.finding(recognition, message: recognition.text)) }
        }
        return Self.story(findings)
    }

    static func finding(_ recognition: KnowledgeBase.Recognition, message: String) -> Finding {
        Finding(message: redacted(message), meaning: recognition.message.meaning, causes: recognition.causes, note: recognition.reading,
                messageID: recognition.message.id, loggedBy: recognition.loggedBy, about: recognition.about, isConsequence: false)
    }

    /// `text` with the secrets people paste along with an error replaced by `***`: the password of
    /// a `postgres://user:password@host` URL and the value of `password=`/`sslpassword=` (and every
    /// keyword libpq marks as a secret), quoted or not.
    static func redacted(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.firstScalarRange(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authority = rest.prefix { !"/?# \n\"'".contains($0) }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                result += rest[..<rest.index(after: colon)] + "***"
                rest = rest[at...]
            }
        }
        result += rest
        var words: [String] = []
        var pendingQuote = false
        for word in result.split(separator: " ", omittingEmptySubsequences: false) {
            if pendingQuote {
                // The rest of a quoted secret value: dropped up to its closing quote.
                if word.hasSuffix("'") { pendingQuote = false }
                continue
            }
            if let equals = word.firstIndex(of: "="),
               ConnectionOptions.isSecret(String(word[..<equals].drop { !$0.isLetter }).lowercased()) {
                let value = word[word.index(after: equals)...]
                pendingQuote = value.hasPrefix("'") && (value.count == 1 || !value.dropFirst().hasSuffix("'"))
                words.append(word[...equals] + "***")
            } else {
                words.append(String(word))
            }
        }
        return words.joined(separator: " ")
    }

    static func isDetailLine(_ line: String) -> Bool {
        ["DETAIL:", "HINT:", "CONTEXT:"].contains { line.contains($0) } && !line.contains("FATAL:") && !line.contains("LOG:")
    }

    /// Causes first: a finding whose cause is another finding in the text moves after it.
    static func story(_ findings: [Finding]) -> [Finding] {
        guard findings.count > 1 else { return findings }
        let ids = Set(findings.map(\.messageID))
        var causes: [Finding] = []
        var consequences: [Finding] = []
        for var finding in findings {
            let message = KnowledgeBase.message(finding.messageID)
            if let origin = message?.consequenceOf.first(where: ids.contains), let cause = KnowledgeBase.message(origin) {
                finding.isConsequence = true
                finding.note = "A consequence of the line recognised as \"\(cause.meaning)\" — the cause is there."
                consequences.append(finding)
            } else if ["hba-plaintext", "hba-reject-plaintext"].contains(finding.causes.first?.id ?? ""),
                      findings.contains(where: { !["server.hba-no-entry", "server.hba-reject"].contains($0.messageID) }) {
                finding.isConsequence = true
                finding.note = "This is most likely the plaintext retry of sslmode=prefer (or allow) after the attempt in the other line failed: the cause is in that line."
                consequences.append(finding)
            } else {
                causes.append(finding)
            }
        }
        return causes.isEmpty ? findings : causes + consequences
    }
}

/// Text and JSON for ``MessageExplainer`` findings.
public enum ExplanationRenderer {
    public static func text(_ findings: [MessageExplainer.Finding]) -> String {
        guard !findings.isEmpty else {
            return "Not recognised. pgconnect knows libpq's, the server's, OpenSSL's and the common drivers' messages about certificate logins; paste the whole message (several lines are fine), or run pgconnect-check with the same connection options to diagnose it live.\n"
        }
        var lines: [String] = []
        for finding in findings {
            lines.append("Message: \(finding.message.replacingScalars("\n", with: "\n         "))")
            let side = finding.loggedBy.map { $0 == .server ? "logged by the server" : "reported by the client" }
            lines.append("  \(finding.meaning)\(side.map { " (\($0); about the \(finding.about.rawValue.replacingScalars("-", with: " ")))" } ?? "")")
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

    /// The knowledge base as JSON: every message (how it is recognised, who logs it, what it is
    /// about, its source, its causes in order) and every cause.
    public static func catalog() -> String {
        JSONValue.object([
            ("messages", .array(KnowledgeBase.messages.map { message in
                .object([
                    ("id", .string(message.id)),
                    ("producers", .string(message.producers)),
                    ("source", .string(message.source)),
                    ("logged_by", .string(message.loggedBy?.rawValue)),
                    ("about", .string(message.about.rawValue)),
                    ("patterns", .array(message.patterns.map { .string($0) })),
                    ("meaning", .string(message.meaning)),
                    ("causes", .array(message.causes.map { .string($0) })),
                    ("reads", .array(message.reads.map(\.rawValue).sorted().map { .string($0) })),
                    ("consequence_of", .array(message.consequenceOf.map { .string($0) })),
                    ("stops_before_server", .bool(message.stopsBeforeServer)),
                ])
            })),
            ("causes", .array(KnowledgeBase.causes.map { cause in
                .object([
                    ("id", .string(cause.id)),
                    ("code", .string(cause.code.rawValue)),
                    ("layer", .string(cause.layer.rawValue)),
                    ("cause", .string(cause.cause)),
                    ("how_to_tell", .string(cause.howToTell)),
                    ("fixes", .array(cause.fixes.map { .string($0) })),
                ])
            })),
            ("verify_reasons", .array(TLSVocabulary.reasons.map { reason in
                .object([
                    ("number", reason.number.map { .int($0) } ?? .null),
                    ("name", .string(reason.name)),
                    ("spellings", .array(reason.spellings.map { .string($0) })),
                    ("failure", .string(reason.failure.rawValue)),
                ])
            })),
        ]).serialized(indent: 2)
    }

    public static func json(_ findings: [MessageExplainer.Finding]) -> String {
        JSONValue.object([
            ("recognised", .bool(!findings.isEmpty)),
            ("findings", .array(findings.map { finding in
                .object([
                    ("message", .string(finding.message)),
                    ("message_id", .string(finding.messageID)),
                    ("logged_by", .string(finding.loggedBy?.rawValue)),
                    ("about", .string(finding.about.rawValue)),
                    ("consequence", .bool(finding.isConsequence)),
                    ("meaning", .string(finding.meaning)),
                    ("note", .string(finding.note)),
                    ("causes", .array(finding.causes.map { cause in
                        .object([
                            ("code", .string(cause.code.rawValue)),
                            ("cause_id", .string(cause.id)),
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
