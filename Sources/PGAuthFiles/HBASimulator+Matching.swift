/// Line matching: `check_hba()`, `check_db()`, `check_role()`, `check_ip()`, `check_hostname()` in
/// src/backend/libpq/hba.c.
extension HBASimulator {
    enum LineMatch {
        case match([String])
        case noMatch(String)
        case unknown(String)
    }

    /// A three-valued answer to one condition.
    enum Answer {
        case yes([String])
        case no(String)
        case unknown(String)
    }

    func match(_ rule: HBARule, _ request: Request) -> LineMatch {
        // Connection type: a definite mismatch here needs no further reasoning.
        if rule.connectionType == .local {
            if request.connectionType != .local { return .noMatch("a local line; the connection uses TCP/IP") }
        } else {
            if request.connectionType == .local { return .noMatch("a TCP/IP line; the connection uses a Unix-domain socket") }
            if rule.connectionType == .hostssl && !request.ssl { return .noMatch("hostssl needs SSL; the connection does not use SSL") }
            if rule.connectionType == .hostnossl && request.ssl { return .noMatch("the connection uses SSL") }
            if rule.connectionType == .hostgssenc && !request.gssEncrypted { return .noMatch("hostgssenc needs GSSAPI encryption; the connection does not use it") }
            if rule.connectionType == .hostnogssenc && request.gssEncrypted { return .noMatch("the connection uses GSSAPI encryption") }
        }
        var answers: [Answer] = []
        if rule.connectionType != .local {
            answers.append(matchAddress(rule.address ?? .all, request))
        }
        answers.append(matchDatabase(rule.databases, request))
        answers.append(matchUser(rule.users, request))
        var remarks: [String] = []
        var unknowns: [String] = []
        for answer in answers {
            switch answer {
            case .no(let reason): return .noMatch(reason)
            case .unknown(let reason): unknowns.append(reason)
            case .yes(let notes): remarks += notes
            }
        }
        if !unknowns.isEmpty { return .unknown(unknowns.joined(separator: "; ")) }
        return .match(remarks)
    }

    // MARK: address

    func matchAddress(_ address: HBAAddress, _ request: Request) -> Answer {
        let client = IPAddressBytes(parsing: request.clientAddress)
        let mappedNote = client.map { $0.bytes.count == 16 && $0.bytes[0..<10].allSatisfy { $0 == 0 }
            && $0.bytes[10] == 0xFF && $0.bytes[11] == 0xFF } ?? false
        switch address {
        case .all:
            return .yes([])
        case .cidr(let text, let prefixLength):
            guard let network = IPAddressBytes(parsing: text) else { return .no("the rule's address \"\(text)\" is not numeric") }
            return matchRange(client, network: network,
                              mask: IPAddressBytes.mask(prefixLength: prefixLength, ipv4: network.isIPv4),
                              written: "\(text)/\(prefixLength)", request: request, mapped: mappedNote)
        case .addressMask(let text, let maskText):
            guard let network = IPAddressBytes(parsing: text), let mask = IPAddressBytes(parsing: maskText) else {
                return .no("the rule's address \"\(text) \(maskText)\" is not numeric")
            }
            return matchRange(client, network: network, mask: mask, written: "\(text) mask \(maskText)",
                              request: request, mapped: mappedNote)
        case .sameHost:
            if let client, Self.isLoopback(client, wholeNet: false) {
                return .yes(["samehost: \(request.clientAddress) is a loopback address the server always has"])
            }
            return .unknown("samehost needs the server's own interface addresses (pg_foreach_ifaddr), which the simulator does not know")
        case .sameNet:
            if let client, Self.isLoopback(client, wholeNet: true) {
                return .yes(["samenet: \(request.clientAddress) is on the server's loopback network"])
            }
            return .unknown("samenet needs the server's interface subnets (pg_foreach_ifaddr), which the simulator does not know")
        case .hostName(let pattern):
            guard let name = request.clientHostName else {
                return .unknown("the host name \"\(pattern)\" needs the server's reverse DNS lookup of \(request.clientAddress) (and a forward lookup confirming it)")
            }
            if Self.hostNameMatches(pattern: pattern, name: name) {
                return .yes(["\"\(name)\" matches \"\(pattern)\", assuming its forward lookup includes \(request.clientAddress)"])
            }
            return .no("the client's host name \"\(name)\" does not match \"\(pattern)\"")
        }
    }

    private func matchRange(_ client: IPAddressBytes?, network: IPAddressBytes, mask: IPAddressBytes, written: String,
                            request: Request, mapped: Bool) -> Answer {
        guard let client else {
            return .unknown("the client address \"\(request.clientAddress)\" is not an IP address")
        }
        if client.bytes.count != network.bytes.count {
            var reason = "the client address \(request.clientAddress) is \(client.isIPv4 ? "IPv4" : "IPv6"), the rule's \(written) is \(network.isIPv4 ? "IPv4" : "IPv6") (address families never match each other)"
            if mapped { reason += "; an IPv4-mapped IPv6 address does not match IPv4 rules" }
            return .no(reason)
        }
        if client.isInRange(network: network, mask: mask) { return .yes([]) }
        return .no("the client address \(request.clientAddress) is not in \(written)")
    }

    /// `hostname_match()`: a leading `.` is a case-insensitive suffix match, else case-insensitive
    /// equality.
    static func hostNameMatches(pattern: String, name: String) -> Bool {
        // pg_strcasecmp(): ASCII letters only.
        func fold(_ text: String) -> [UInt8] {
            text.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
        }
        let pattern = fold(pattern), name = fold(name)
        if pattern.first == UInt8(ascii: ".") {
            return name.count >= pattern.count && Array(name.suffix(pattern.count)) == pattern
        }
        return pattern == name
    }

    static func isLoopback(_ address: IPAddressBytes, wholeNet: Bool) -> Bool {
        if address.isIPv4 {
            return wholeNet ? address.bytes[0] == 127 : address.bytes == [127, 0, 0, 1]
        }
        return address.bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    // MARK: database and role

    func matchDatabase(_ tokens: [HBAToken], _ request: Request) -> Answer {
        var unknown: String?
        for token in tokens {
            if request.physicalReplication {
                if token.isKeyword("replication") { return .yes([]) }
                continue
            }
            if token.isAll { return .yes([]) }
            if token.isKeyword("sameuser") {
                if request.database == request.user { return .yes([]) }
                continue
            }
            if token.isKeyword("samerole") || token.isKeyword("samegroup") {
                switch isMember(request, of: request.database) {
                case true?: return .yes([])
                case false?: continue
                case nil: unknown = "\(token.value) needs to know whether \"\(request.user)\" is a member of role \"\(request.database)\""
                }
                continue
            }
            if token.isKeyword("replication") { continue }
            if let source = token.regularExpressionSource {
                switch regexMatches(source, request.database) {
                case true?: return .yes([])
                case false?: continue
                case nil: unknown = "the regular expression \(token.value) cannot be evaluated exactly"
                }
                continue
            }
            if token.value == request.database { return .yes([]) }
        }
        if let unknown { return .unknown(unknown) }
        if request.physicalReplication {
            return .no("a physical replication connection matches only the replication keyword")
        }
        return .no("database \"\(request.database)\" is not in \(tokens.fieldText)")
    }

    func matchUser(_ tokens: [HBAToken], _ request: Request) -> Answer {
        var unknown: String?
        for token in tokens {
            if let role = token.membershipRole {
                switch isMember(request, of: role) {
                case true?: return .yes([])
                case false?: continue
                case nil: unknown = "+\(role) needs to know whether \"\(request.user)\" is a member of role \"\(role)\""
                }
                continue
            }
            if token.isAll { return .yes([]) }
            if let source = token.regularExpressionSource {
                switch regexMatches(source, request.user) {
                case true?: return .yes([])
                case false?: continue
                case nil: unknown = "the regular expression \(token.value) cannot be evaluated exactly"
                }
                continue
            }
            if token.value == request.user { return .yes([]) }
        }
        if let unknown { return .unknown(unknown) }
        return .no("user \"\(request.user)\" is not in \(tokens.fieldText)")
    }

    /// `is_member()`: direct or indirect membership, not implied by superuser; a role is a member of
    /// itself. Nil when the memberships are unknown.
    func isMember(_ request: Request, of role: String) -> Bool? {
        if role.isEmpty { return false }
        if role == request.user { return true }
        guard let memberships = request.roleMemberships else { return nil }
        return memberships.contains(role)
    }

    /// Nil when the pattern cannot be evaluated faithfully.
    func regexMatches(_ source: String, _ subject: String) -> Bool? {
        switch PostgresRegex.compile(source) {
        case .regex(let regex): return regex.matches(subject)
        case .invalid: return false
        case .unsupported: return nil
        }
    }
}
