import PGSupport

/// What happens once a line matched: `ClientAuthentication()` and `CheckCertAuth()` (auth.c),
/// `check_usermap()` and `check_ident_usermap()` (hba.c).
extension HBASimulator {
    static let passwordMethods: Set<String> = ["scram-sha-256", "md5", "password"]
    /// Methods that send the server a clear-text password to check elsewhere.
    static let cleartextMethods: Set<String> = ["ldap", "radius", "pam", "bsd"]

    /// The client-visible FATAL of `auth_failed()` for a method.
    package static func failureMessage(method: String, user: String) -> String {
        let label: String
        switch method {
        case "cert": label = "certificate"
        case "trust": label = "\"trust\""
        case "scram-sha-256", "md5", "password": label = "password"
        case "ldap": label = "LDAP"
        case "radius": label = "RADIUS"
        case "pam": label = "PAM"
        case "gss": label = "GSSAPI"
        case "sspi": label = "SSPI"
        case "ident": label = "Ident"
        case "peer": label = "Peer"
        case "bsd": label = "BSD"
        default: label = method
        }
        return "\(label) authentication failed for user \"\(user)\""
    }

    func authenticate(_ rule: HBARule, _ request: Request, steps: [String]) -> Outcome {
        var steps = steps
        // The client certificate requirement comes before the method (ClientAuthentication()).
        if let mode = rule.clientCert {
            let origin = rule.method == "cert" && rule.options["clientcert"] == nil ? " (implied by cert)" : ""
            guard request.clientCertificatePresented else {
                steps.append("clientcert=\(mode)\(origin) and the client sends no certificate: the server reports \"connection requires a valid client certificate\"")
                return Outcome(rule: rule, decision: .clientCertificateRequired, steps: steps)
            }
            steps.append("clientcert=\(mode)\(origin): the client sends a certificate (assumed to verify against the server's ssl_ca_file; a failing one ends the TLS handshake first)")
        }

        let method = rule.method
        if method == "reject" {
            let host = request.connectionType == .local ? "[local]" : request.clientAddress
            steps.append("the line rejects: the server reports pg_hba.conf rejects connection for host \"\(host)\", user \"\(request.user)\", database \"\(request.database)\"")
            return Outcome(rule: rule, decision: .reject, steps: steps)
        }

        // CheckCertAuth() runs for cert, and after the method succeeded for clientcert=verify-full.
        var identity: String?
        var mapping: IdentMapping?
        if method == "cert" || rule.clientCert == "verify-full" {
            let check = certificateCheck(rule, request)
            steps += check.steps
            identity = check.identity
            mapping = check.mapping
            if let failure = check.failure {
                if case .undecidable = failure {
                    return Outcome(rule: rule, decision: failure, steps: steps, identity: identity)
                }
                if method != "cert" {
                    let when = Self.passwordMethods.contains(method) || Self.cleartextMethods.contains(method)
                        ? "after the password exchange (even with the right password) " : ""
                    steps.append("the server logs \"certificate validation (clientcert=verify-full) failed for user \"\(request.user)\": \(rule.clientName) mismatch\"; the client sees \(when)\"\(Self.failureMessage(method: method, user: request.user))\"")
                } else {
                    steps.append("the client sees \"\(Self.failureMessage(method: method, user: request.user))\"")
                }
                return Outcome(rule: rule, decision: failure, steps: steps, identity: identity)
            }
        }

        let decision: Decision
        switch method {
        case "cert", "trust":
            decision = .accepted(method: method)
            steps.append(method == "cert" ? "certificate authentication succeeds (no password)" : "trust: no password is asked")
        case _ where Self.passwordMethods.contains(method):
            decision = .passwordRequired(method: method)
            steps.append("\(method): the server asks for the password; a wrong one gives \"\(Self.failureMessage(method: method, user: request.user))\"")
        case _ where Self.cleartextMethods.contains(method):
            decision = .passwordRequired(method: method)
            steps.append("\(method): the server asks for the password in clear text and checks it with \(method == "pam" ? "PAM" : method == "bsd" ? "BSD Authentication" : "the \(method.uppercased()) server")")
        default:
            let reason: String
            switch method {
            case "gss", "sspi": reason = "\(method) authentication depends on the client's Kerberos/Windows credentials"
            case "ident": reason = "ident authentication depends on the client host's ident server"
            case "peer": reason = "peer authentication depends on the operating-system user of the client process"
            default: reason = "\(method) authentication is not simulated"
            }
            steps.append(reason)
            decision = .undecidable(reason)
        }
        return Outcome(rule: rule, decision: decision, steps: steps, identity: identity, mapping: mapping)
    }

    struct CertificateCheck {
        var steps: [String] = []
        var identity: String?
        var mapping: IdentMapping?
        /// Nil when the check passed.
        var failure: Decision?
    }

    /// `CheckCertAuth()`: the CN (or RFC 2253 DN with `clientname=DN`) through the line's map, or
    /// compared exactly with the user when there is no map.
    func certificateCheck(_ rule: HBARule, _ request: Request) -> CertificateCheck {
        var check = CertificateCheck()
        let usesDN = rule.clientName == "DN"
        let field = usesDN ? "DN" : "CN"
        let name = usesDN ? request.certificateDN : request.certificateCommonName
        if usesDN && name == nil {
            check.failure = .undecidable("clientname=DN: the certificate's RFC 2253 subject is unknown")
            check.steps.append("clientname=DN but the certificate's RFC 2253 subject DN is unknown")
            return check
        }
        guard let identity = name, !identity.isEmpty else {
            check.identity = ""
            check.steps.append("the certificate has no \(field): the server logs \"certificate authentication failed for user \"\(request.user)\": client certificate contains no user name\"")
            check.failure = .certificateNameMismatch(identity: "", user: request.user)
            return check
        }
        check.identity = identity
        if rule.method == "cert", let dn = request.certificateDN {
            check.steps.append("the server records the authenticated identity as the certificate DN \"\(dn)\"")
        }
        guard let map = rule.map, !map.isEmpty else {
            if identity == request.user {
                check.steps.append("certificate \(field) \"\(identity)\" equals the requested user \"\(request.user)\" (exact, case-sensitive; no map)")
            } else {
                check.steps.append("certificate \(field) \"\(identity)\" ≠ requested user \"\(request.user)\" (exact, case-sensitive; no map): the server logs \"provided user name (\(request.user)) and authenticated user name (\(identity)) do not match\"")
                check.failure = .certificateNameMismatch(identity: identity, user: request.user)
            }
            return check
        }
        let result = userMap(map, user: request.user, identity: identity, request: request)
        check.steps += result.steps
        switch result.verdict {
        case .mapped(let line):
            check.mapping = line
        case .noMatch:
            check.failure = .identMapNoMatch(map: map, identity: identity, user: request.user)
        case .unknownMap:
            check.failure = .unknownMap(map: map)
        case .undecidable(let reason):
            check.failure = .undecidable(reason)
        }
        return check
    }

    enum UserMapVerdict {
        case mapped(IdentMapping)
        case noMatch
        case unknownMap
        case undecidable(String)
    }

    /// `check_usermap()` with a map name: the lines of the map in order, first match wins; a regex
    /// error stops the scan and fails.
    func userMap(_ map: String, user: String, identity: String, request: Request) -> (verdict: UserMapVerdict, steps: [String]) {
        var steps: [String] = []
        guard let mappings else {
            let reason = "map=\(map) needs pg_ident.conf, which was not given"
            return (.undecidable(reason), [reason])
        }
        let lines = mappings.filter { $0.mapName == map }
        if lines.isEmpty {
            var message = "pg_ident.conf has no line for map \"\(map)\": the server logs \"no match in usermap \"\(map)\" for user \"\(user)\" authenticated as \"\(identity)\"\""
            let similar = Set(mappings.map(\.mapName)).filter { $0.lowercased() == map.lowercased() }
            if !similar.isEmpty {
                message += " (map names are case-sensitive; the file has \(similar.sorted().map { "\"\($0)\"" }.joined(separator: ", ")))"
            }
            steps.append(message)
            return (.unknownMap, steps)
        }
        let failure = "no match in usermap \"\(map)\" for user \"\(user)\" authenticated as \"\(identity)\""
        for line in lines {
            let label = "\(Self.baseName(line.file)) line \(line.lineNumber) (\(Self.collapse(line.text)))"
            var target = line.databaseUserToken
            // A substituted name is compared literally (make_auth_token(expanded, true), no regex).
            var substituted = false
            if line.systemUserIsRegex {
                guard case .regex(let regex) = PostgresRegex.compile(line.systemUser) else {
                    let reason = "\(label): the regular expression /\(line.systemUser) cannot be evaluated exactly"
                    steps.append(reason)
                    return (.undecidable(reason), steps)
                }
                let substitutes = !target.isMembershipCheck && !target.isRegularExpression && target.value.contains("\\1")
                if substitutes {
                    if let divergence = regex.captureDivergence {
                        let reason = "\(label): \\1 from a pattern with \(divergence) may differ between PostgreSQL and Swift Regex"
                        steps.append(reason)
                        return (.undecidable(reason), steps)
                    }
                    switch regex.firstCapture(in: identity) {
                    case .noMatch:
                        steps.append("\(label): skipped — /\(line.systemUser) does not match \"\(identity)\"")
                        continue
                    case .match(_, let group):
                        guard let group else {
                            steps.append("\(label): the server logs \"regular expression \"\(line.systemUser)\" has no subexpressions as requested by backreference in \"\(line.databaseUser)\"\" and the mapping fails")
                            return (.noMatch, steps)
                        }
                        var expanded = target.value
                        expanded.replaceSubrange(expanded.firstScalarRange(of: "\\1")!, with: group)
                        steps.append("\(label): \"\(identity)\" → \"\(expanded)\"")
                        target = HBAToken(value: expanded, quoted: true)
                        substituted = true
                    }
                } else {
                    if !regex.matches(identity) {
                        steps.append("\(label): skipped — /\(line.systemUser) does not match \"\(identity)\"")
                        continue
                    }
                    steps.append("\(label): /\(line.systemUser) matches \"\(identity)\"")
                }
            } else {
                guard line.systemUser == identity else {
                    steps.append("\(label): skipped — system user \"\(line.systemUser)\" ≠ \"\(identity)\" (exact, case-sensitive)")
                    continue
                }
                steps.append("\(label): system user \"\(line.systemUser)\" = \"\(identity)\"")
            }
            let answer: Answer = substituted
                ? (target.value == user ? .yes([]) : .no("")) : matchUser([target], request)
            switch answer {
            case .yes:
                steps.append("\(label): database user \(target) matches the requested user \"\(user)\"")
                return (.mapped(line), steps)
            case .no:
                steps.append("\(label): but maps to \(target), not the requested user \"\(user)\"")
            case .unknown(let reason):
                let text = "\(label): \(reason)"
                steps.append(text)
                return (.undecidable(text), steps)
            }
        }
        steps.append("no line of map \"\(map)\" maps \"\(identity)\" to \"\(user)\": the server logs \"\(failure)\"")
        return (.noMatch, steps)
    }
}
