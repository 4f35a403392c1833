#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// Everything one check of a login found: the checks in layer order, the diagnosis of a
/// failure, warnings about a login that works, and what the session was.
///
/// The report is data; ``JSONReportRenderer`` and ``TextReportRenderer`` only format it.
public struct Report: Sendable, Hashable {
    /// The JSON schema version (DESIGN.md); bumped only for incompatible changes.
    public static let schemaVersion = 1

    /// What happened to the login; ``ok`` and ``exitStatus`` follow from it.
    public var outcome: Outcome
    /// Whether the login worked: libpq connected and authenticated (warnings may be present).
    /// A check that did not connect is never ok.
    public var ok: Bool { outcome == .connected }
    /// What was connected to, with secrets redacted.
    public var target: Target
    /// Each check, in layer order.
    public var checks: [Check]
    /// Why the login failed; `nil` when it worked.
    public var diagnosis: Diagnosis?
    /// Risks in a login that works (or in the parts that worked).
    public var warnings: [Warning]
    /// The TLS session, when a handshake completed.
    public var tls: TLSReport?
    /// What the server says about the session, when logged in.
    public var server: ServerReport?
    /// Milliseconds per phase: `dns`, `tcp`, `tls`, `authentication`, `total`.
    public var timingsMilliseconds: [(phase: String, milliseconds: Double)]
    /// The libpq the check ran with, the OpenSSL that libpq calls, the OpenSSL of the certificate
    /// checks and the TLS probe, and whether those two are one copy.
    public var runtime: LibPQRuntime
    /// When the certificates of this login expire (for metrics; the JSON report shows the
    /// server's in `tls.server_certificate.not_after`).
    public var certificateExpiry = CertificateExpiry()

    /// Creates a report (`runtime`: this process's libpq and OpenSSL unless given).
    public init(outcome: Outcome, target: Target, checks: [Check] = [], diagnosis: Diagnosis? = nil, warnings: [Warning] = [],
                tls: TLSReport? = nil, server: ServerReport? = nil, timingsMilliseconds: [(phase: String, milliseconds: Double)] = [],
                runtime: LibPQRuntime = .current) {
        self.outcome = outcome
        self.target = target
        self.checks = checks
        self.diagnosis = diagnosis
        self.warnings = warnings
        self.tls = tls
        self.server = server
        self.timingsMilliseconds = timingsMilliseconds
        self.runtime = runtime
    }

    /// The `pgconnect-check` exit status, from the outcome alone: 0 connected, 1 refused by the
    /// server, 2 no usable connection, 3 the local setup cannot work (nothing usable was sent),
    /// 4 not attempted (`--no-connect`) and nothing found that would stop the login. A
    /// `--no-connect` check that predicts a failure exits 3: the setup it was given cannot work.
    public var exitStatus: Int32 {
        switch outcome {
        case .connected: 0
        case .refused: 1
        case .unreachable: 2
        case .localSetup: 3
        case .notAttempted: diagnosis == nil ? 4 : 3
        }
    }

    /// What happened to a login, as libpq saw it.
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// libpq connected and the server authenticated and authorized the login.
        case connected
        /// The server was reached and refused the login (authentication or authorization).
        case refused
        /// No usable connection: the network or the TLS handshake failed.
        case unreachable
        /// The local setup cannot work: libpq refused the options or its own files before the
        /// server could decide anything.
        case localSetup = "local-setup"
        /// No attempt was made (`--no-connect`): only local checks and the simulation ran.
        case notAttempted = "not-attempted"
    }

    public static func == (lhs: Report, rhs: Report) -> Bool {
        lhs.outcome == rhs.outcome && lhs.target == rhs.target && lhs.checks == rhs.checks && lhs.diagnosis == rhs.diagnosis
            && lhs.warnings == rhs.warnings && lhs.tls == rhs.tls && lhs.server == rhs.server
            && lhs.timingsMilliseconds.map(\.phase) == rhs.timingsMilliseconds.map(\.phase)
            && lhs.timingsMilliseconds.map(\.milliseconds) == rhs.timingsMilliseconds.map(\.milliseconds)
            && lhs.runtime == rhs.runtime
            && lhs.certificateExpiry == rhs.certificateExpiry
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(outcome)
        hasher.combine(target)
        hasher.combine(diagnosis)
    }

    /// When the certificates of a login expire.
    public struct CertificateExpiry: Sendable, Hashable {
        /// The client certificate libpq sends (the first in `sslcert`), read from its file: known
        /// also when the login failed.
        public var client: Date?
        /// The server's certificate, from the session or, after a failed handshake, the TLS probe.
        public var server: Date?
        public init(client: Date? = nil, server: Date? = nil) {
            self.client = client
            self.server = server
        }
    }

    /// What was connected to.
    public struct Target: Sendable, Hashable {
        public var host: String?
        public var port: String?
        public var user: String?
        public var dbname: String?
        public var sslmode: String?
        /// The effective conninfo with every secret replaced by `***`.
        public var conninfo: String

        public init(host: String?, port: String?, user: String?, dbname: String?, sslmode: String?, conninfo: String) {
            self.host = host
            self.port = port
            self.user = user
            self.dbname = dbname
            self.sslmode = sslmode
            self.conninfo = conninfo
        }
    }

    /// One check in one layer.
    public struct Check: Sendable, Hashable {
        public enum Status: String, Sendable, Hashable, Codable { case pass, warn, fail, skip }
        public var layer: Layer
        /// A stable identifier, e.g. `tls-handshake`.
        public var id: String
        public var status: Status
        /// One line for people.
        public var summary: String
        /// More, when there is more to say.
        public var detail: String?

        public init(layer: Layer, id: String, status: Status, summary: String, detail: String? = nil) {
            self.layer = layer
            self.id = id
            self.status = status
            self.summary = summary
            self.detail = detail
        }
    }

    /// A pg_hba.conf line that decided the login.
    public struct HBALine: Sendable, Hashable {
        public var file: String
        public var line: Int
        public var text: String
        public init(file: String, line: Int, text: String) {
            self.file = file
            self.line = line
            self.text = text
        }
    }

    /// Why a login failed, with the evidence and the fix.
    public struct Diagnosis: Sendable, Hashable {
        public var code: DiagnosisCode
        public var layer: Layer
        /// One line: what is wrong.
        public var summary: String
        /// Why, in plain words.
        public var explanation: String
        /// What was observed that supports the diagnosis.
        public var evidence: [String]
        /// Exact commands or settings that fix it.
        public var fixes: [String]
        /// libpq's raw message, kept verbatim.
        public var libpqMessage: String?
        public var sqlState: String?
        public var hbaLine: HBALine?
        public var identMap: String?

        public init(code: DiagnosisCode, layer: Layer, summary: String, explanation: String, evidence: [String] = [],
                    fixes: [String] = [], libpqMessage: String? = nil, sqlState: String? = nil,
                    hbaLine: HBALine? = nil, identMap: String? = nil) {
            self.code = code
            self.layer = layer
            self.summary = summary
            self.explanation = explanation
            self.evidence = evidence
            self.fixes = fixes
            self.libpqMessage = libpqMessage
            self.sqlState = sqlState
            self.hbaLine = hbaLine
            self.identMap = identMap
        }
    }

    /// A risk in a login that works.
    public struct Warning: Sendable, Hashable {
        public var code: WarningCode
        public var summary: String
        public var fixes: [String]
        public init(code: WarningCode, summary: String, fixes: [String] = []) {
            self.code = code
            self.summary = summary
            self.fixes = fixes
        }
    }

    /// The negotiated TLS session.
    public struct TLSReport: Sendable, Hashable {
        public var protocolVersion: String?
        public var cipher: String?
        public var serverCertificate: CertificateSummary?
        /// CA names the server asks client certificates to be signed by (filled by the TLS probe).
        public var clientCANames: [String]?
        public init(protocolVersion: String?, cipher: String?, serverCertificate: CertificateSummary?, clientCANames: [String]? = nil) {
            self.protocolVersion = protocolVersion
            self.cipher = cipher
            self.serverCertificate = serverCertificate
            self.clientCANames = clientCANames
        }
    }

    /// The parts of a certificate a report shows.
    public struct CertificateSummary: Sendable, Hashable {
        public var subject: String
        public var issuer: String
        public var san: [String]
        /// ISO 8601, UTC.
        public var notAfter: String?
        public init(subject: String, issuer: String, san: [String], notAfter: String?) {
            self.subject = subject
            self.issuer = issuer
            self.san = san
            self.notAfter = notAfter
        }
    }

    /// What the server says about the session.
    public struct ServerReport: Sendable, Hashable {
        public var version: String?
        public var currentUser: String?
        /// The client certificate's DN as the server saw it (`pg_stat_ssl.client_dn`).
        public var clientDN: String?
        public var ssl: Bool?
        public init(version: String?, currentUser: String?, clientDN: String?, ssl: Bool?) {
            self.version = version
            self.currentUser = currentUser
            self.clientDN = clientDN
            self.ssl = ssl
        }
    }
}
