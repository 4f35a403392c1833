import CLibPQ
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension ConnectionOptions {
    /// Parses a keyword/value conninfo string or a `postgresql://` URI with libpq's own parser
    /// (`PQconninfoParse`). Environment variables and defaults are not applied; see ``effective()``.
    ///
    /// - Throws: ``ConnectionError`` with code ``ConnectionError/Code/invalidConninfo`` carrying
    ///   libpq's message (e.g. `missing "=" after "sslcert" in connection info string`).
    public init(conninfo: String) throws {
        guard !conninfo.utf8.contains(0) else {
            throw ConnectionError(code: .invalidValue, phase: .options,
                                  message: "the connection string contains a NUL byte; libpq cannot represent it — remove it")
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let parsed = PQconninfoParse(conninfo, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "out of memory while parsing the connection string"
            if let errorMessage { PQfreemem(errorMessage) }
            throw ConnectionError(code: .invalidConninfo, phase: .options, message: message.trimmingWhitespace())
        }
        defer { PQconninfoFree(parsed) }
        var values: [String: String] = [:]
        var cursor = parsed
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val {
                values[String(cString: keyword)] = String(cString: value)
            }
            cursor += 1
        }
        self.init(values)
    }

    /// Checks every keyword against the linked libpq and every value for NUL bytes.
    ///
    /// - Throws: ``ConnectionError`` naming the offending keyword.
    public func validate() throws {
        for (keyword, value) in values {
            guard LibPQKeywords.linked.contains(keyword) else {
                var message = "unknown connection option \"\(keyword)\": the linked libpq does not know this keyword"
                if let suggestion = LibPQKeywords.linked.closest(to: keyword) {
                    message += "; did you mean \"\(suggestion)\"?"
                }
                throw ConnectionError(code: .unknownKeyword, phase: .options, message: message)
            }
            guard !value.utf8.contains(0) else {
                throw ConnectionError(code: .invalidValue, phase: .options,
                                      message: "the value of \"\(keyword)\" contains a NUL byte, which libpq cannot represent; remove it")
            }
            guard !keyword.utf8.contains(0) else {
                throw ConnectionError(code: .invalidValue, phase: .options, message: "a keyword contains a NUL byte")
            }
        }
    }

    /// A keyword/value conninfo string that `PQconninfoParse` reads back to exactly these values.
    ///
    /// Values are quoted when needed; inside quotes, `\` and `'` are backslash-escaped.
    /// - Throws: ``ConnectionError`` for an unknown keyword or a NUL byte (see ``validate()``).
    public func conninfoString() throws -> String {
        try validate()
        return render(redacting: false)
    }

    /// The conninfo string with every secret (`password`, `sslpassword`: the keywords libpq marks
    /// as secret) replaced by `***`. Safe for logs and reports; never throws.
    public var redactedConninfo: String { render(redacting: true) }

    /// A `postgresql://` URI that `PQconninfoParse` reads back to exactly these values.
    ///
    /// User, password, a single host and port, and the database go in the URI's parts; every
    /// other keyword (and any value that does not fit there) goes in the query, percent-encoded.
    public func uriString() throws -> String {
        try validate()
        return renderURI(redacting: false)
    }

    /// The URI with secrets replaced by `***`.
    public var redactedURI: String { renderURI(redacting: true) }

    /// A copy with secrets replaced by `***` (for reports that show options field by field).
    public var redacted: ConnectionOptions {
        var copy = self
        for keyword in values.keys where Self.isSecret(keyword) { copy.values[keyword] = "***" }
        return copy
    }

    /// These options after libpq fills in what is unset: a `service=` entry (pg_service.conf),
    /// its `PG*` environment variables and compiled defaults. A value given here wins, as when
    /// connecting; an empty value counts as unset (the `PQconnectStartParams` rule).
    ///
    /// Nothing here touches the network. Without a service this asks `PQconndefaults`. With one
    /// (`service=` or `PGSERVICE`), only libpq reads the service file: it builds a connection
    /// object with `PQconnectStartParams` from these options plus a deliberately invalid
    /// `target_session_attrs`, which libpq rejects in its option check (`connectOptions2`) before
    /// it resolves a host or opens a socket, and reads `PQconninfo` back before freeing it.
    public func effective() -> ConnectionOptions {
        let service = values["service"].flatMap { $0.isEmpty ? nil : $0 } ?? ProcessInfo.processInfo.environment["PGSERVICE"]
        if let service, !service.isEmpty, var resolved = resolvedByLibpq() {
            // The stand-in value is ours: give back what was asked, or libpq's own default.
            resolved.values["target_session_attrs"] = values["target_session_attrs"].flatMap { $0.isEmpty ? nil : $0 }
                ?? Self.libpqDefaults().values["target_session_attrs"]
            return resolved
        }
        var result = Self.libpqDefaults()
        for (keyword, value) in values where !value.isEmpty { result.values[keyword] = value }
        return result
    }

    /// Whether libpq builds a connection object from these options: every keyword known, every
    /// value accepted and a `service=` entry found in the service file. Nothing touches the
    /// network (see ``effective()``).
    public var libpqAccepts: Bool { resolvedByLibpq() != nil }

    /// `PQconndefaults`: compiled defaults, `PG*` variables and a `PGSERVICE` entry.
    private static func libpqDefaults() -> ConnectionOptions {
        var result = ConnectionOptions()
        if let defaults = PQconndefaults() {
            defer { PQconninfoFree(defaults) }
            var cursor = defaults
            while let keyword = cursor.pointee.keyword {
                if let value = cursor.pointee.val { result.values[String(cString: keyword)] = String(cString: value) }
                cursor += 1
            }
        }
        return result
    }

    /// The `target_session_attrs` value that stops libpq before any network I/O (see ``effective()``).
    static let resolveOnlyStandIn = "pgconnect-resolve-only"

    /// `PQconninfo` of a connection object libpq built from these options (service file
    /// included) and refused to start (see ``effective()``); nil when libpq could not build it
    /// (e.g. an unknown service: the real attempt reports that).
    private func resolvedByLibpq() -> ConnectionOptions? {
        guard (try? validate()) != nil else { return nil }
        var pairs = self.pairs.filter { !$0.value.isEmpty && $0.keyword != "target_session_attrs" }
        pairs.append(("target_session_attrs", Self.resolveOnlyStandIn))
        let conn: OpaquePointer? = withCStringArray(pairs.map(\.keyword)) { keywords in
            withCStringArray(pairs.map(\.value)) { values in PQconnectStartParams(keywords, values, 0) }
        }
        guard let conn else { return nil }
        defer { PQfinish(conn) }
        // Only the stand-in's refusal proves libpq read every option and stopped before the network.
        guard PQstatus(conn) == CONNECTION_BAD, PQsocket(conn) < 0,
              String(cString: PQerrorMessage(conn)).contains(Self.resolveOnlyStandIn),
              let info = PQconninfo(conn) else { return nil }
        defer { PQconninfoFree(info) }
        var result = ConnectionOptions()
        var cursor = info
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { result.values[String(cString: keyword)] = String(cString: value) }
            cursor += 1
        }
        return result
    }

    package static func isSecret(_ keyword: String) -> Bool {
        LibPQKeywords.linked.keyword(keyword)?.isSecret ?? (keyword == "password" || keyword == "sslpassword")
    }

    private func render(redacting: Bool) -> String {
        pairs.map { keyword, value in
            if redacting && Self.isSecret(keyword) { return "\(keyword)=***" }
            return "\(keyword)=\(Self.quote(value))"
        }.joined(separator: " ")
    }

    /// Quotes a value for a conninfo string when libpq would otherwise read it differently.
    static func quote(_ value: String) -> String {
        let safe = !value.isEmpty && value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ":"),
                 UInt8(ascii: ","), UInt8(ascii: "@"), UInt8(ascii: "+"):
                return true
            default:
                return false
            }
        }
        if safe { return value }
        var quoted = "'"
        for character in value.unicodeScalars {
            if character == "\\" || character == "'" { quoted.unicodeScalars.append("\\") }
            quoted.unicodeScalars.append(character)
        }
        return quoted + "'"
    }

    private func renderURI(redacting: Bool) -> String {
        var remaining = values
        if redacting { for keyword in remaining.keys where Self.isSecret(keyword) { remaining[keyword] = "***" } }
        var uri = "postgresql://"
        // userinfo: only non-empty values fit (an empty user in a URI reads back as unset).
        if let user = remaining["user"], !user.isEmpty {
            uri += Self.percentEncode(user)
            remaining["user"] = nil
            if let password = remaining["password"], !password.isEmpty {
                uri += ":" + Self.percentEncode(password)
                remaining["password"] = nil
            }
            uri += "@"
        }
        // hostspec: one plain host name or IPv4 address, and one numeric port.
        if let host = remaining["host"], Self.fitsHostspec(host) {
            uri += Self.percentEncode(host)
            remaining["host"] = nil
            if let port = remaining["port"], !port.isEmpty, port.utf8.allSatisfy({ (48...57).contains($0) }) {
                uri += ":" + port
                remaining["port"] = nil
            }
        }
        if let dbname = remaining["dbname"], !dbname.isEmpty {
            uri += "/" + Self.percentEncode(dbname)
            remaining["dbname"] = nil
        }
        let query = ConnectionOptions(remaining).pairs.map { "\($0.keyword)=\(Self.percentEncode($0.value))" }
        if !query.isEmpty { uri += "?" + query.joined(separator: "&") }
        return uri
    }

    private static func fitsHostspec(_ host: String) -> Bool {
        !host.isEmpty && host.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."):
                return true
            default:
                return false
            }
        }
    }

    /// Percent-encodes every byte outside RFC 3986's unreserved set.
    static func percentEncode(_ value: String) -> String {
        var encoded = ""
        encoded.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                encoded.unicodeScalars.append("%")
                encoded.unicodeScalars.append(hex[Int(byte >> 4)])
                encoded.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return encoded
    }
}

extension ConnectionOptions: CustomStringConvertible {
    /// The redacted conninfo string: printing options never prints a secret.
    public var description: String { redactedConninfo }
}
