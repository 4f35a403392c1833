/// What `pgconnect-check server` found: a server's certificate-login setup checked by the server's
/// own rules, what the server will do with it, and (with `--client-cert`) whether one certificate
/// logs in. The same schema family as ``Report``: `schema_version`, `ok`, `outcome`, `checks`,
/// `diagnosis`, `warnings`, with the same check, warning and `hba_line`/`ident_map` shapes.
///
/// ``ServerSetupJSONRenderer`` and ``ServerSetupTextRenderer`` only format it.
public struct ServerSetupReport: Sendable, Hashable {
    /// The JSON schema version (docs/server-report.schema.json).
    public static let schemaVersion = 1

    /// What the server will do with this setup; ``ok`` and ``exitStatus`` follow from it.
    public var outcome: Outcome
    /// True only when the outcome is ``Outcome/ready``.
    public var ok: Bool { outcome == .ready }
    /// Where the configuration came from.
    public var server: Server
    /// The login checked with `--client-cert`, if any.
    public var login: Login?
    /// Each check, in the server's order.
    public var checks: [Report.Check]
    /// The problem that decides the outcome; nil when ready.
    public var diagnosis: Problem?
    /// Every problem, the diagnosis first.
    public var problems: [Problem]
    /// Risks in a setup that works.
    public var warnings: [Report.Warning]
    /// The SSL settings and file locations the server uses, with where each value comes from.
    public var settings: [Setting]

    /// Creates a report.
    public init(outcome: Outcome, server: Server, login: Login? = nil, checks: [Report.Check] = [], diagnosis: Problem? = nil,
                problems: [Problem] = [], warnings: [Report.Warning] = [], settings: [Setting] = []) {
        self.outcome = outcome
        self.server = server
        self.login = login
        self.checks = checks
        self.diagnosis = diagnosis
        self.problems = problems
        self.warnings = warnings
        self.settings = settings
    }

    /// The exit status, with `check`'s meaning where they overlap: 0 ready (the login works);
    /// 1 refused at authentication or authorization; 2 no usable TLS connection; 3 the
    /// configuration cannot work (the server will not start; a reload keeps the previous files).
    public var exitStatus: Int32 {
        switch outcome {
        case .ready: 0
        case .refused: 1
        case .unreachable: 2
        case .willNotStart: 3
        }
    }

    /// What the server will do.
    public enum Outcome: String, Sendable, Hashable, CaseIterable, Comparable {
        /// It starts (or reloads) with this configuration and accepts certificate logins; with
        /// `--client-cert`, this certificate logs in.
        case ready
        /// It runs, but refuses the certificate login at pg_hba.conf/pg_ident.conf (or the role or
        /// database), or no certificate login can work (no CA, no `cert`/`clientcert` line).
        case refused
        /// It runs, but there is no usable TLS connection for the login: `ssl = off`, or the
        /// handshake fails (the client's chain does not verify, the server's certificate expired
        /// or does not name the host clients use).
        case unreachable
        /// It refuses to start with this configuration; a running server keeps its previous
        /// configuration on reload.
        case willNotStart = "will-not-start"

        /// Worse outcomes sort later.
        public static func < (lhs: Outcome, rhs: Outcome) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// What the server does because of a problem.
    public enum Consequence: String, Sendable, Hashable {
        /// The server refuses to start; a reload keeps the previous configuration.
        case willNotStart = "will-not-start"
        /// A reload keeps the previous configuration (the server starts with it as it is).
        case reloadKeepsPrevious = "reload-keeps-previous"
        /// The server starts without pg_ident.conf maps; a reload keeps the previous maps.
        case runsWithoutMaps = "runs-without-maps"
        /// TLS is off or clients' handshakes fail.
        case handshakeFails = "handshake-fails"
        /// The server never asks clients for a certificate.
        case neverAsksForCertificate = "never-asks-for-certificate"
        /// The pg_hba.conf line can never match.
        case lineNeverMatches = "line-never-matches"
        /// Certificate logins (or this login) are refused.
        case loginRefused = "login-refused"

        /// The outcome this consequence leads to.
        public var outcome: Outcome {
            switch self {
            case .willNotStart: .willNotStart
            case .handshakeFails: .unreachable
            case .reloadKeepsPrevious, .runsWithoutMaps, .neverAsksForCertificate, .lineNeverMatches, .loginRefused: .refused
            }
        }
    }

    /// One problem: what is wrong, what the server will do, its own words, and the fix.
    public struct Problem: Sendable, Hashable {
        /// A stable code (README).
        public var code: DiagnosisCode
        /// The layer the problem is in.
        public var layer: Layer
        /// What the server will do because of it.
        public var consequence: Consequence
        /// One line: what is wrong.
        public var summary: String
        /// What the server will do, in plain words ("the server will refuse to start; …").
        public var whatHappens: String
        /// Why, in plain words.
        public var explanation: String
        /// What was observed.
        public var evidence: [String]
        /// Exact commands or settings that fix it.
        public var fixes: [String]
        /// The message the server logs for it, verbatim (nil when it logs nothing).
        public var serverMessage: String?
        /// What a client sees, verbatim (nil when not a login failure).
        public var clientMessage: String?
        /// The file and line the problem is in.
        public var file: String?
        public var line: Int?
        /// The pg_hba.conf line involved, and its map.
        public var hbaLine: Report.HBALine?
        public var identMap: String?

        /// Creates a problem.
        public init(code: DiagnosisCode, layer: Layer, consequence: Consequence, summary: String, whatHappens: String,
                    explanation: String, evidence: [String] = [], fixes: [String] = [], serverMessage: String? = nil,
                    clientMessage: String? = nil, file: String? = nil, line: Int? = nil, hbaLine: Report.HBALine? = nil,
                    identMap: String? = nil) {
            self.code = code
            self.layer = layer
            self.consequence = consequence
            self.summary = summary
            self.whatHappens = whatHappens
            self.explanation = explanation
            self.evidence = evidence
            self.fixes = fixes
            self.serverMessage = serverMessage
            self.clientMessage = clientMessage
            self.file = file
            self.line = line
            self.hbaLine = hbaLine
            self.identMap = identMap
        }
    }

    /// Where the configuration came from.
    public struct Server: Sendable, Hashable {
        /// `files` (read from disk) or `admin` (the running server's view).
        public var source: String
        /// The files read.
        public var dataDirectory: String?
        public var configFile: String?
        public var hbaFile: String?
        public var identFile: String?
        /// The major version whose rules were applied, and where it came from (`PG_VERSION`,
        /// `--pg-version`, `server`).
        public var majorVersion: Int
        public var versionSource: String
        /// The running server's full version (`--admin` only).
        public var serverVersion: String?
        /// The OS user the server runs as (the data directory's owner unless `--os-user`).
        public var osUser: String?

        /// Creates the description.
        public init(source: String, dataDirectory: String?, configFile: String?, hbaFile: String?, identFile: String?,
                    majorVersion: Int, versionSource: String, serverVersion: String? = nil, osUser: String?) {
            self.source = source
            self.dataDirectory = dataDirectory
            self.configFile = configFile
            self.hbaFile = hbaFile
            self.identFile = identFile
            self.majorVersion = majorVersion
            self.versionSource = versionSource
            self.serverVersion = serverVersion
            self.osUser = osUser
        }
    }

    /// The login checked with `--client-cert`.
    public struct Login: Sendable, Hashable {
        /// The certificate file, the role, the database and the client address the server sees.
        public var certificateFile: String
        public var user: String
        public var database: String
        public var clientAddress: String
        /// The certificate's subject (RFC 2253) and CN, as the server compares them.
        public var subject: String?
        public var commonName: String?
        /// The chain as the server verified it, leaf first; nil when it did not verify.
        public var verifiedChain: [String]?
        /// What the server decides (`accepted by cert`, `no pg_hba.conf entry matches`, …).
        public var decision: String?
        /// The simulation's steps, line by line.
        public var steps: [String]
        /// The pg_hba.conf line that decides, and the map it uses.
        public var hbaLine: Report.HBALine?
        public var identMap: String?
        /// True when the certificate logs in as the user.
        public var succeeds: Bool

        /// Creates the login's description.
        public init(certificateFile: String, user: String, database: String, clientAddress: String, subject: String? = nil,
                    commonName: String? = nil, verifiedChain: [String]? = nil, decision: String? = nil, steps: [String] = [],
                    hbaLine: Report.HBALine? = nil, identMap: String? = nil, succeeds: Bool = false) {
            self.certificateFile = certificateFile
            self.user = user
            self.database = database
            self.clientAddress = clientAddress
            self.subject = subject
            self.commonName = commonName
            self.verifiedChain = verifiedChain
            self.decision = decision
            self.steps = steps
            self.hbaLine = hbaLine
            self.identMap = identMap
            self.succeeds = succeeds
        }
    }

    /// One setting the check used.
    public struct Setting: Sendable, Hashable {
        /// The setting.
        public var name: String
        /// The value the server uses (with `--admin`: runs with).
        public var value: String
        /// `postgresql.conf:12`, `postgresql.auto.conf:3`, `-c`, `default`, or `server`.
        public var origin: String
        /// With `--admin`: the value the files hold when the server has not applied it yet.
        public var pendingValue: String?

        /// Creates a setting.
        public init(name: String, value: String, origin: String, pendingValue: String? = nil) {
            self.name = name
            self.value = value
            self.origin = origin
            self.pendingValue = pendingValue
        }
    }
}
