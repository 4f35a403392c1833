import PGSupport

/// Decides, offline, what a PostgreSQL 15–17 server does with a login: which pg_hba.conf line matches
/// (`check_hba()`), and what the line's method and certificate options then require
/// (`ClientAuthentication()`, `CheckCertAuth()` in auth.c; `check_usermap()` and
/// `check_ident_usermap()` in hba.c).
///
/// The simulator never guesses: where the answer needs something it was not told (role memberships,
/// a DNS lookup, the server's interface addresses, an unknown certificate DN) the outcome is
/// `undecidable`, and the trace says what each possibility would lead to. PostgreSQL 16+ syntax is
/// evaluated with 16+ semantics; `HBAFile.notes` says which lines older servers read differently.
public struct HBASimulator: Sendable {
    /// The pg_hba.conf rules, in order.
    public var rules: [HBARule]
    /// The pg_ident.conf lines, or nil when no pg_ident.conf was given.
    public var mappings: [IdentMapping]?
    /// Errors of the pg_hba.conf the rules came from (a server does not load a file with errors).
    public var hbaErrors: [AuthFileError]
    /// Errors of the pg_ident.conf the mappings came from.
    public var identErrors: [AuthFileError]
    /// The top-level pg_hba.conf path (rules from other files are labelled with their file name).
    var primaryFile: String?

    /// Creates a simulator for parsed files.
    public init(hba: HBAFile, ident: IdentFile?) {
        rules = hba.rules
        mappings = ident?.mappings
        hbaErrors = hba.errors
        identErrors = ident?.errors ?? []
        primaryFile = hba.files.first ?? hba.rules.first?.file
    }

    /// Creates a simulator from rules and mappings (for example read from `pg_hba_file_rules` and
    /// `pg_ident_file_mappings`). Pass nil mappings when pg_ident.conf is unknown.
    public init(rules: [HBARule], mappings: [IdentMapping]?) {
        self.rules = rules
        self.mappings = mappings
        hbaErrors = []
        identErrors = []
        primaryFile = rules.first?.file
    }

    /// A login attempt as the server sees it.
    public struct Request: Sendable, Hashable {
        /// How the client reached the server.
        public enum ConnectionType: String, Sendable, Hashable {
            /// TCP/IP (`host*` lines).
            case tcp
            /// A Unix-domain socket (`local` lines).
            case local
        }

        /// TCP/IP or a Unix-domain socket.
        public var connectionType: ConnectionType
        /// Whether the connection uses SSL (`hostssl` / `hostnossl`).
        public var ssl: Bool
        /// Whether the connection uses GSSAPI encryption (`hostgssenc` / `hostnogssenc`).
        public var gssEncrypted: Bool
        /// The client address the server sees, as an IP literal (ignored for `local`).
        public var clientAddress: String
        /// The name the server's reverse lookup of `clientAddress` returns, when known; host-name
        /// rules are decided with it, assuming its forward lookup includes `clientAddress` (the
        /// server checks that too). Nil: host-name rules are undecidable.
        public var clientHostName: String?
        /// The requested database.
        public var database: String
        /// The requested role.
        public var user: String
        /// Every role `user` is a member of, directly or indirectly (not counting itself); nil when
        /// unknown, which makes `+group` and `samerole` undecidable.
        public var roleMemberships: [String]?
        /// The client certificate's CN; nil when the certificate has no CN.
        public var certificateCommonName: String?
        /// The client certificate's subject in RFC 2253 form (`CN=alice,O=pgconnect`); nil when
        /// unknown.
        public var certificateDN: String?
        /// Whether the client sends a certificate the server's CA list verifies.
        public var clientCertificatePresented: Bool
        /// A physical replication connection (`replication=true`), which only `replication` lines
        /// match.
        public var physicalReplication: Bool

        /// Creates a request. `clientCertificatePresented` defaults to whether a CN or DN is given.
        public init(connectionType: ConnectionType = .tcp, ssl: Bool = true, gssEncrypted: Bool = false,
                    clientAddress: String = "127.0.0.1", clientHostName: String? = nil,
                    database: String, user: String, roleMemberships: [String]? = nil,
                    certificateCommonName: String? = nil, certificateDN: String? = nil,
                    clientCertificatePresented: Bool? = nil, physicalReplication: Bool = false) {
            self.connectionType = connectionType
            self.ssl = ssl
            self.gssEncrypted = gssEncrypted
            self.clientAddress = clientAddress
            self.clientHostName = clientHostName
            self.database = database
            self.user = user
            self.roleMemberships = roleMemberships
            self.certificateCommonName = certificateCommonName
            self.certificateDN = certificateDN
            self.clientCertificatePresented = clientCertificatePresented
                ?? (certificateCommonName != nil || certificateDN != nil)
            self.physicalReplication = physicalReplication
        }
    }

    /// What the server decides for a request.
    public enum Decision: Sendable, Hashable, CustomStringConvertible {
        /// The line lets the login through without a password (`trust`, or `cert` whose name
        /// check passed); `method` is the line's method.
        case accepted(method: String)
        /// The line's method asks for a password (`scram-sha-256`, `md5`, `password`, and `ldap`,
        /// `radius`, `pam`, `bsd`, which ask for it in clear text); any certificate check passed.
        case passwordRequired(method: String)
        /// No line matched: `no pg_hba.conf entry for host ...`.
        case noEntry
        /// A `reject` line matched: `pg_hba.conf rejects connection for host ...`.
        case reject
        /// `cert` or `clientcert=` and no client certificate: `connection requires a valid client
        /// certificate`.
        case clientCertificateRequired
        /// The certificate's CN (or DN with `clientname=DN`) is not the requested user and there is no
        /// map (`cert`), or the `clientcert=verify-full` name check failed.
        case certificateNameMismatch(identity: String, user: String)
        /// `map=` names a map whose lines do not map the certificate name to the user.
        case identMapNoMatch(map: String, identity: String, user: String)
        /// `map=` names a map that has no lines in pg_ident.conf at all.
        case unknownMap(map: String)
        /// The outcome depends on something the simulator was not told.
        case undecidable(String)

        /// A short phrase for reports and traces.
        public var description: String {
            switch self {
            case .accepted(let method): return "accepted by \(method)"
            case .passwordRequired(let method): return "the server asks for a password (\(method))"
            case .noEntry: return "no pg_hba.conf entry matches"
            case .reject: return "rejected by a reject line"
            case .clientCertificateRequired: return "a client certificate is required but none is sent"
            case .certificateNameMismatch(let identity, let user):
                return "certificate name \"\(identity)\" does not match user \"\(user)\""
            case .identMapNoMatch(let map, let identity, let user):
                return "map \"\(map)\" does not map \"\(identity)\" to \"\(user)\""
            case .unknownMap(let map): return "map \"\(map)\" has no lines in pg_ident.conf"
            case .undecidable(let reason): return "undecidable: \(reason)"
            }
        }
    }

    /// The simulated outcome with its trace.
    public struct Outcome: Sendable, Hashable {
        /// The pg_hba.conf line that decided (nil for `noEntry`, and when the outcome is the same
        /// whichever of several undecidable lines applies).
        public var rule: HBARule?
        /// What the server does.
        public var decision: Decision
        /// A human-readable trace: lines skipped and why, the line that matched, certificate and
        /// pg_ident.conf checks.
        public var steps: [String]
        /// The certificate name the server compared (CN, or RFC 2253 DN with `clientname=DN`).
        public var identity: String?
        /// The pg_ident.conf line that mapped the certificate name to the user.
        public var mapping: IdentMapping?

        /// Creates an outcome.
        public init(rule: HBARule?, decision: Decision, steps: [String], identity: String? = nil,
                    mapping: IdentMapping? = nil) {
            self.rule = rule
            self.decision = decision
            self.steps = steps
            self.identity = identity
            self.mapping = mapping
        }
    }

    /// Simulates `request` against the rules, first match wins.
    public func simulate(_ request: Request) -> Outcome {
        var steps: [String] = []
        let hbaServerErrors = hbaErrors.filter { !$0.isSimulatorLimitation }
        if !hbaServerErrors.isEmpty {
            steps.append("note: pg_hba.conf has \(hbaServerErrors.count) error(s); PostgreSQL does not load a file with errors (at start-up the server does not start, on reload it keeps the previous rules); simulating the lines that parse")
        }
        let identServerErrors = identErrors.filter { !$0.isSimulatorLimitation }
        if !identServerErrors.isEmpty {
            steps.append("note: pg_ident.conf has \(identServerErrors.count) error(s); PostgreSQL does not load it (at start-up it runs without maps, on reload it keeps the previous ones); simulating the lines that parse")
        }
        return evaluate(from: 0, request, steps: steps)
    }

    /// `check_hba()` from line `start` on.
    func evaluate(from start: Int, _ request: Request, steps: [String]) -> Outcome {
        var steps = steps
        var index = start
        while index < rules.count {
            let rule = rules[index]
            switch match(rule, request) {
            case .noMatch(let reason):
                steps.append("\(label(rule)): skipped — \(reason)")
            case .match(let remarks):
                steps.append("\(label(rule)): matches" + (remarks.isEmpty ? "" : " (\(remarks.joined(separator: "; ")))"))
                return authenticate(rule, request, steps: steps)
            case .unknown(let reason):
                steps.append("\(label(rule)): cannot tell whether it matches — \(reason)")
                let ifMatches = authenticate(rule, request, steps: [])
                let otherwise = evaluate(from: index + 1, request, steps: [])
                steps.append("  if it matches: \(ifMatches.decision)")
                let otherLine = otherwise.rule.map { " (\(label($0)))" } ?? ""
                steps.append("  if it does not: \(otherwise.decision)\(otherLine)")
                if ifMatches.decision == otherwise.decision {
                    steps.append("either way: \(otherwise.decision)")
                    return Outcome(rule: nil, decision: otherwise.decision, steps: steps)
                }
                return Outcome(rule: rule, decision: .undecidable("\(label(rule)): \(reason)"), steps: steps)
            }
            index += 1
        }
        let host = request.connectionType == .local ? "[local]" : request.clientAddress
        let encryption = request.ssl ? "SSL encryption" : request.gssEncrypted ? "GSS encryption" : "no encryption"
        if request.physicalReplication {
            steps.append("no line matched: the server reports no pg_hba.conf entry for replication connection from host \"\(host)\", user \"\(request.user)\", \(encryption)")
        } else {
            steps.append("no line matched: the server reports no pg_hba.conf entry for host \"\(host)\", user \"\(request.user)\", database \"\(request.database)\", \(encryption)")
        }
        return Outcome(rule: nil, decision: .noEntry, steps: steps)
    }

    /// `line N (text)` for the main file, `file line N (text)` for included files.
    func label(_ rule: HBARule) -> String {
        let place = rule.file == primaryFile || primaryFile == nil
            ? "line \(rule.lineNumber)" : "\(Self.baseName(rule.file)) line \(rule.lineNumber)"
        return "\(place) (\(Self.collapse(rule.text)))"
    }

    package static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The text with runs of blanks collapsed to one space.
    package static func collapse(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
    }
}
