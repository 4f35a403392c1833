#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGSupport

/// `parse_hba_line()` and `parse_hba_auth_opt()` from src/backend/libpq/hba.c, with the server's
/// messages. Checks that depend on the server's build or settings (SSL off, no GSSAPI/LDAP/PAM support,
/// RADIUS server name resolution, LDAP URL syntax) are not made.
enum HBALineParser {
    struct Result {
        var rule: HBARule?
        var errors: [AuthFileError] = []
        var notes: [AuthFileNote] = []
    }

    static let methods: Set<String> = [
        "trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident", "peer",
        "ldap", "radius", "cert", "pam", "bsd",
    ]

    static func parse(_ line: TokenizedAuthLine) -> Result {
        var result = Result()
        func fail(_ message: String) -> Result {
            result.errors.append(AuthFileError(file: line.file, line: line.lineNumber, message: message))
            result.rule = nil
            return result
        }
        func note(_ kind: AuthFileNote.Kind, _ message: String) {
            result.notes.append(AuthFileNote(file: line.file, line: line.lineNumber, kind: kind, message: message))
        }
        var fields = line.fields[...]

        // Connection type: compared as a string, quoted or not.
        guard let typeField = fields.popFirst() else { return fail("end-of-line before database specification") }
        if typeField.count > 1 { return fail("multiple values specified for connection type") }
        guard let connectionType = HBAConnectionType(rawValue: typeField[0].value) else {
            return fail("invalid connection type \"\(typeField[0].value)\"")
        }

        // Databases and roles (PostgreSQL 16+ compiles a leading "/" as a regular expression).
        guard let databases = fields.popFirst() else { return fail("end-of-line before database specification") }
        if let message = checkRegularExpressions(databases, column: "database", line: line, into: &result) {
            return fail(message)
        }
        guard let users = fields.popFirst() else { return fail("end-of-line before role specification") }
        if let message = checkRegularExpressions(users, column: "user", line: line, into: &result) {
            return fail(message)
        }

        // Address.
        var address: HBAAddress?
        if connectionType != .local {
            guard let addressField = fields.popFirst() else { return fail("end-of-line before IP address specification") }
            if addressField.count > 1 { return fail("multiple values specified for host address") }
            let token = addressField[0]
            if token.isKeyword("all") {
                address = .all
            } else if token.isKeyword("samehost") {
                address = .sameHost
            } else if token.isKeyword("samenet") {
                address = .sameNet
            } else {
                var text = token.value
                var prefix: String?
                if let slash = text.firstIndex(of: "/") {
                    prefix = String(text[text.index(after: slash)...])
                    text = String(text[..<slash])
                }
                if let ip = IPAddressBytes(parsing: text) {
                    if let prefix {
                        guard let bits = strtolBits(prefix), bits >= 0, bits <= (ip.isIPv4 ? 32 : 128) else {
                            return fail("invalid CIDR mask in address \"\(token.value)\"")
                        }
                        address = .cidr(address: text, prefixLength: bits)
                    } else {
                        guard let maskField = fields.popFirst() else { return fail("end-of-line before netmask specification") }
                        if maskField.count > 1 { return fail("multiple values specified for netmask") }
                        guard let mask = IPAddressBytes(parsing: maskField[0].value) else {
                            return fail("invalid IP mask \"\(maskField[0].value)\": Name or service not known")
                        }
                        if mask.isIPv4 != ip.isIPv4 { return fail("IP address and mask do not match") }
                        address = .addressMask(address: text, mask: maskField[0].value)
                    }
                } else {
                    if prefix != nil {
                        return fail("specifying both host name and CIDR mask is invalid: \"\(token.value)\"")
                    }
                    address = .hostName(text)
                }
            }
        }

        // Method.
        guard let methodField = fields.popFirst() else { return fail("end-of-line before authentication method") }
        if methodField.count > 1 { return fail("multiple values specified for authentication type") }
        var method = methodField[0].value
        guard methods.contains(method) else { return fail("invalid authentication method \"\(method)\"") }
        if connectionType == .local && method == "ident" { method = "peer" }
        if connectionType == .local && method == "gss" { return fail("gssapi authentication is not supported on local sockets") }
        if connectionType != .local && method == "peer" { return fail("peer authentication is only supported on local sockets") }
        if connectionType != .hostssl && method == "cert" { return fail("cert authentication is only supported on hostssl connections") }
        if method == "sspi" {
            note(.information, "sspi exists only in Windows builds; other servers reject the line: invalid authentication method \"sspi\": not supported by this build")
        }
        if method == "bsd" {
            note(.information, "bsd exists only in OpenBSD builds; other servers reject the line: invalid authentication method \"bsd\": not supported by this build")
        }

        // Options.
        var options: [String: String] = [:]
        var clientCert: String?
        var clientName = "CN"
        var map: String?
        for field in fields {
            for token in field {
                guard let equals = token.value.firstIndex(of: "=") else {
                    return fail("authentication option not in name=value format: \(token.value)")
                }
                let name = String(token.value[..<equals])
                let value = String(token.value[token.value.index(after: equals)...])
                func onlyFor(_ allowed: Set<String>, _ list: String) -> String? {
                    allowed.contains(method) ? nil
                        : "authentication option \"\(name)\" is only valid for authentication methods \(list)"
                }
                var problem: String?
                switch name {
                case "map":
                    problem = onlyFor(["ident", "peer", "gss", "sspi", "cert"], "ident, peer, gssapi, sspi, and cert")
                    if problem == nil { map = value }
                case "clientcert":
                    if connectionType != .hostssl {
                        problem = "clientcert can only be configured for \"hostssl\" rows"
                    } else if value == "verify-full" {
                        clientCert = value
                    } else if value == "verify-ca" {
                        if method == "cert" {
                            problem = "clientcert only accepts \"verify-full\" when using \"cert\" authentication"
                        } else {
                            clientCert = value
                        }
                    } else {
                        if ["1", "0", "no-verify"].contains(value) {
                            note(.information, "clientcert=\(value) was accepted before PostgreSQL 14; use clientcert=verify-ca or clientcert=verify-full, or leave it out")
                        }
                        problem = "invalid value for clientcert: \"\(value)\""
                    }
                case "clientname":
                    if connectionType != .hostssl {
                        problem = "clientname can only be configured for \"hostssl\" rows"
                    } else if value == "CN" || value == "DN" {
                        clientName = value
                    } else {
                        problem = "invalid value for clientname: \"\(value)\""
                    }
                case "pamservice", "pam_use_hostname":
                    problem = onlyFor(["pam"], "pam")
                case "ldapurl", "ldaptls", "ldapscheme", "ldapserver", "ldapbinddn", "ldapbindpasswd",
                     "ldapsearchattribute", "ldapsearchfilter", "ldapbasedn", "ldapprefix", "ldapsuffix":
                    problem = onlyFor(["ldap"], "ldap")
                    if problem == nil, name == "ldapscheme", value != "ldap", value != "ldaps" {
                        note(.information, "the server logs invalid ldapscheme value: \"\(value)\" but still loads the line")
                    }
                case "ldapport":
                    problem = onlyFor(["ldap"], "ldap")
                    if problem == nil, atoi(value) == 0 { problem = "invalid LDAP port number: \"\(value)\"" }
                case "krb_realm", "include_realm":
                    problem = onlyFor(["gss", "sspi"], "gssapi and sspi")
                case "compat_realm", "upn_username":
                    problem = onlyFor(["sspi"], "sspi")
                case "radiusservers", "radiussecrets", "radiusidentifiers":
                    problem = onlyFor(["radius"], "radius")
                case "radiusports":
                    problem = onlyFor(["radius"], "radius")
                    if problem == nil, splitList(value).contains(where: { atoi($0) == 0 }) {
                        problem = "invalid RADIUS port number: \"\(value)\""
                    }
                default:
                    problem = "unrecognized authentication option name: \"\(name)\""
                }
                if let problem { return fail(problem) }
                options[name] = value
            }
        }

        // Mandatory arguments.
        if method == "ldap" {
            let simpleBind = options["ldapprefix"] != nil || options["ldapsuffix"] != nil
            let searchBind = ["ldapbasedn", "ldapbinddn", "ldapbindpasswd", "ldapsearchattribute", "ldapsearchfilter"]
                .contains { options[$0] != nil }
            if simpleBind && searchBind {
                return fail("cannot mix options for simple bind and search+bind modes")
            }
            if !simpleBind && options["ldapbasedn"] == nil && options["ldapurl"] == nil {
                return fail("authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set")
            }
            if options["ldapsearchattribute"] != nil && options["ldapsearchfilter"] != nil {
                return fail("cannot use ldapsearchattribute together with ldapsearchfilter")
            }
        }
        if method == "radius" {
            guard let servers = options["radiusservers"] else {
                return fail("authentication method \"radius\" requires argument \"radiusservers\" to be set")
            }
            guard let secrets = options["radiussecrets"] else {
                return fail("authentication method \"radius\" requires argument \"radiussecrets\" to be set")
            }
            let serverCount = splitList(servers).count, secretCount = splitList(secrets).count
            if serverCount == 0 { return fail("list of RADIUS servers cannot be empty") }
            if secretCount == 0 { return fail("list of RADIUS secrets cannot be empty") }
            if secretCount != 1 && secretCount != serverCount {
                return fail("the number of RADIUS secrets (\(secretCount)) must be 1 or the same as the number of RADIUS servers (\(serverCount))")
            }
            for (key, label) in [("radiusports", "ports"), ("radiusidentifiers", "identifiers")] {
                let count = options[key].map { splitList($0).count } ?? 0
                if count > 1 && count != serverCount {
                    return fail("the number of RADIUS \(label) (\(count)) must be 1 or the same as the number of RADIUS servers (\(serverCount))")
                }
            }
        }
        if method == "cert" { clientCert = "verify-full" }

        result.rule = HBARule(
            file: line.file, lineNumber: line.lineNumber, text: line.rawLine, connectionType: connectionType,
            databases: databases, users: users, address: address, method: method, options: options,
            clientCert: clientCert, clientName: clientName, map: map)
        return result
    }

    /// Compiles the `/regex` tokens of a database or user column. Returns the server's error, if any;
    /// records version notes and simulator limitations.
    private static func checkRegularExpressions(_ tokens: [HBAToken], column: String, line: TokenizedAuthLine,
                                                into result: inout Result) -> String? {
        for token in tokens {
            guard let source = token.regularExpressionSource else { continue }
            result.notes.append(AuthFileNote(
                file: line.file, line: line.lineNumber, kind: .requiresServerVersion(16),
                message: "a regular expression in the \(column) column needs PostgreSQL 16 or later; PostgreSQL 15 compares \"\(token.value)\" as a literal name"))
            switch PostgresRegex.compile(source) {
            case .regex: break
            case .invalid(let message):
                return "invalid regular expression \"\(source)\": \(message)"
            case .unsupported(let reason):
                result.errors.append(AuthFileError(
                    file: line.file, line: line.lineNumber,
                    message: "regular expression \"\(source)\" cannot be evaluated exactly: \(reason)",
                    isSimulatorLimitation: true))
            }
        }
        return nil
    }

    /// `strtol(s, &end, 10)` with `*s != '\0' && *end == '\0'`, as `pg_sockaddr_cidr_mask()` checks it.
    static func strtolBits(_ text: String) -> Int? {
        var scalars = Substring(text).unicodeScalars[...]
        while let first = scalars.first, [" ", "\t", "\n", "\u{0B}", "\u{0C}", "\r"].contains(first) {
            scalars = scalars.dropFirst()
        }
        var negative = false
        if let sign = scalars.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            scalars = scalars.dropFirst()
        }
        guard !scalars.isEmpty, scalars.allSatisfy({ $0.isASCII && $0.properties.numericType != nil }) else {
            return nil
        }
        var value = 0
        for scalar in scalars {
            value = min(value * 10 + Int(scalar.value - 48), 1_000_000)
        }
        return negative ? -value : value
    }

    /// C `atoi()`: optional blanks and sign, then digits; anything else stops (0 when no digits).
    static func atoi(_ text: String) -> Int {
        var scalars = Substring(text).unicodeScalars[...]
        while let first = scalars.first, [" ", "\t", "\n", "\u{0B}", "\u{0C}", "\r"].contains(first) {
            scalars = scalars.dropFirst()
        }
        var negative = false
        if let sign = scalars.first, sign == "+" || sign == "-" {
            negative = sign == "-"
            scalars = scalars.dropFirst()
        }
        var value = 0
        for scalar in scalars {
            guard scalar.isASCII, scalar.properties.numericType != nil else { break }
            value = min(value * 10 + Int(scalar.value - 48), 1_000_000_000)
        }
        return negative ? -value : value
    }

    /// A comma-separated option value as `SplitGUCList()` splits it (blanks trimmed, empty list for "").
    static func splitList(_ text: String) -> [String] {
        let trimmed = text.trimmingScalars(in: .whitespaces)
        if trimmed.isEmpty { return [] }
        return trimmed.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingScalars(in: .whitespaces) }
    }
}
