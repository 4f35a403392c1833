/// pg_hba.conf and pg_ident.conf as the server loads them (`load_hba()`, `load_ident()`,
/// `parse_hba_line()` in hba.c), read against the SSL settings: lines the server rejects (the file
/// then does not load), `hostssl` lines that cannot match with `ssl = off` (the server logs
/// `hostssl record cannot match because SSL is disabled` and loads the line all the same),
/// certificate lines without a CA, maps that are missing, unused or cannot match, lines that
/// earlier lines shadow, and lines open to every address.
struct ServerAuthInspector {
    var hba: HBAFile
    var ident: IdentFile?
    var majorVersion: Int
    var sslEnabled: Bool
    /// Whether an ssl_ca_file is loaded (`ssl_loaded_verify_locations`).
    var caLoaded: Bool

    func inspect() -> [ServerFinding] {
        var findings: [ServerFinding] = []
        for error in hba.errors {
            findings.append(error.isSimulatorLimitation ? .authFileLimitation(error) : .hbaError(error))
        }
        for note in hba.notes where (note.requiredServerVersion ?? 0) > majorVersion {
            findings.append(.authFileVersionNote(note, majorVersion: majorVersion))
        }
        if let ident {
            for error in ident.errors {
                findings.append(error.isSimulatorLimitation ? .authFileLimitation(error) : .identError(error))
            }
            for note in ident.notes where (note.requiredServerVersion ?? 0) > majorVersion {
                findings.append(.authFileVersionNote(note, majorVersion: majorVersion))
            }
        }

        let rules = hba.rules
        if !sslEnabled {
            findings += rules.filter { $0.connectionType == .hostssl }.map { .hostsslWithoutSSL($0, majorVersion: majorVersion) }
        }
        let certificateRules = rules.filter { $0.method == "cert" || $0.clientCert != nil }
        if certificateRules.isEmpty {
            findings.append(.noCertificateLine)
        } else {
            findings.append(.certificateLines(certificateRules))
            if sslEnabled && !caLoaded {
                findings += certificateRules.map { .certificateLineWithoutCA($0) }
            }
        }

        // Maps: missing (a login through the line fails), unused, never matching.
        if let ident, ident.serverErrors.isEmpty {
            let names = Set(ident.mappings.map(\.mapName))
            for rule in rules {
                if let map = rule.map, !map.isEmpty, !names.contains(map) { findings.append(.mapMissing(rule, map: map)) }
            }
            let used = Set(rules.compactMap(\.map))
            var reported: Set<String> = []
            for mapping in ident.mappings where !used.contains(mapping.mapName) && reported.insert(mapping.mapName).inserted {
                findings.append(.mapUnused(mapping.mapName, mapping))
            }
            for mapping in ident.mappings {
                let users = rules.filter { $0.map == mapping.mapName && ($0.method == "cert" || $0.clientCert == "verify-full") }
                guard !users.isEmpty else { continue }
                if let reason = Self.neverMatches(mapping, comparedAs: Set(users.map(\.clientName))) {
                    findings.append(.mappingNeverMatches(mapping, reason: reason))
                }
            }
        }

        for (index, rule) in rules.enumerated() {
            if rule.connectionType != .local, rule.method != "reject", Self.isAnyAddress(rule.address) {
                findings.append(.anyAddress(rule))
            }
            for earlier in rules[..<index] {
                if let (partially, reason) = Self.shadows(earlier, rule) {
                    // A partial shadow matters where a certificate line loses addresses to another method.
                    if !partially || certificateRules.contains(rule) {
                        findings.append(.lineShadowed(rule, by: earlier, partially: partially, reason: reason))
                        break
                    }
                }
            }
        }
        return findings
    }

    /// The file as a server of `majorVersion` loads it, where the shared parser (PostgreSQL 15–17
    /// rules) reads more than that server: before 14 `clientname=` did not exist, so its lines fail.
    static func forVersion(_ hba: HBAFile, majorVersion: Int) -> HBAFile {
        guard majorVersion < 14 else { return hba }
        var adjusted = hba
        adjusted.rules = []
        for rule in hba.rules {
            if rule.options["clientname"] != nil {
                adjusted.errors.append(AuthFileError(file: rule.file, line: rule.lineNumber,
                                                     message: "unrecognized authentication option name: \"clientname\""))
            } else {
                adjusted.rules.append(rule)
            }
        }
        return adjusted
    }

    /// `0.0.0.0/0`, `::/0` or `all`.
    static func isAnyAddress(_ address: HBAAddress?) -> Bool {
        switch address {
        case .all: return true
        case .cidr(_, let prefix): return prefix == 0
        case .addressMask(_, let mask): return IPAddressBytes(parsing: mask)?.contiguousPrefixLength == 0
        default: return false
        }
    }

    // MARK: Shadowing

    /// Whether `earlier` matches every connection `later` would match (first match wins, so
    /// `later` is never reached), or — `partially` — every connection from part of its addresses.
    static func shadows(_ earlier: HBARule, _ later: HBARule) -> (partially: Bool, reason: String)? {
        guard covers(type: earlier.connectionType, later.connectionType),
              covers(tokens: earlier.databases, later.databases, keywordAll: true, replicationAware: true),
              covers(tokens: earlier.users, later.users, keywordAll: true, replicationAware: false) else { return nil }
        if later.connectionType == .local { return (false, "it matches the same connections") }
        switch addressCoverage(earlier.address ?? .all, later.address ?? .all) {
        case .full: return (false, "it matches every connection this line would (same type, databases, users and addresses)")
        case .partial: return (true, "it matches this line's connections from \(earlier.address?.description ?? "all") first")
        case .none: return nil
        }
    }

    private static func covers(type earlier: HBAConnectionType, _ later: HBAConnectionType) -> Bool {
        if earlier == later { return true }
        return earlier == .host && later != .local
    }

    private static func covers(tokens earlier: [HBAToken], _ later: [HBAToken], keywordAll: Bool, replicationAware: Bool) -> Bool {
        // `all` matches every database except a physical replication connection's `replication`.
        if earlier.contains(where: \.isAll) {
            return !(replicationAware && later.contains { $0.isKeyword("replication") })
        }
        // Otherwise only the same literal names, none of them a pattern.
        let plain = { (token: HBAToken) in token.quoted || (!token.isRegularExpression && !token.isMembershipCheck
                                                             && !["all", "sameuser", "samerole", "samegroup", "replication"].contains(token.value)) }
        guard earlier.allSatisfy(plain), later.allSatisfy(plain) else { return false }
        let names = Set(earlier.map(\.value))
        return later.allSatisfy { names.contains($0.value) }
    }

    private enum Coverage { case full, partial, none }

    private static func addressCoverage(_ earlier: HBAAddress, _ later: HBAAddress) -> Coverage {
        if earlier == later { return .full }
        guard let wide = range(earlier) else { return .none }
        if case .all = earlier { return .full }
        guard let narrow = range(later) else {
            if case .all = later { return .partial }
            return .none
        }
        guard wide.network.isIPv4 == narrow.network.isIPv4 else { return .none }
        if wide.prefix <= narrow.prefix, narrow.network.isInRange(network: wide.network, mask: IPAddressBytes.mask(prefixLength: wide.prefix, ipv4: wide.network.isIPv4)) {
            return .full
        }
        if narrow.prefix < wide.prefix, wide.network.isInRange(network: narrow.network, mask: IPAddressBytes.mask(prefixLength: narrow.prefix, ipv4: narrow.network.isIPv4)) {
            return .partial
        }
        return .none
    }

    private static func range(_ address: HBAAddress) -> (network: IPAddressBytes, prefix: Int)? {
        switch address {
        case .cidr(let text, let prefix):
            return IPAddressBytes(parsing: text).map { ($0, prefix) }
        case .addressMask(let text, let mask):
            guard let network = IPAddressBytes(parsing: text), let prefix = IPAddressBytes(parsing: mask)?.contiguousPrefixLength else { return nil }
            return (network, prefix)
        default:
            return nil
        }
    }

    // MARK: Maps

    /// Why a pg_ident.conf line can never match the certificate names compared through it (`CN`
    /// and/or `DN`, RFC 2253 form), or nil when it can or it cannot be told.
    static func neverMatches(_ mapping: IdentMapping, comparedAs fields: Set<String>) -> String? {
        let system = mapping.systemUser
        let slashForm = system.contains("/CN=") || system.hasPrefix("/") && system.contains("=")
        if fields == ["DN"] {
            if !mapping.systemUserIsRegex, !system.contains("=") {
                return "the lines using map \"\(mapping.mapName)\" compare the certificate's DN (clientname=DN), and \"\(system)\" is not a DN (an RFC 2253 DN has name=value parts, e.g. CN=\(system),O=…)"
            }
            if slashForm {
                return "\"\(system)\" is written in OpenSSL's /O=…/CN=… form; with clientname=DN the server compares the RFC 2253 form, most specific part first, comma-separated (CN=…,O=…)"
            }
        }
        if fields == ["CN"], !mapping.systemUserIsRegex, system.hasPrefix("CN=") || system.contains(",CN=") {
            return "\"\(system)\" is a DN, but the lines using map \"\(mapping.mapName)\" compare the certificate's CN (add clientname=DN to them, or map the CN)"
        }
        return nil
    }
}
