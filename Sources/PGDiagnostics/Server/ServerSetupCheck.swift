import COpenSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect

/// `pgconnect-check server`: a server's certificate-login setup checked by the server's own rules
/// before any client tries — postgresql.conf as the server reads it, its TLS files as
/// `be_tls_init()` loads them, pg_hba.conf and pg_ident.conf as `load_hba()`/`load_ident()` read
/// them — and what the server will do: refuse to start, keep the previous files on reload, never
/// ask for a certificate, refuse a login. With a client certificate it answers "will this
/// certificate log in as this role?" end to end on the server's side; with an administrator
/// connection it reads the running server's own view.
///
/// Offline, the check reads the files where the server reads them and judges access as the OS
/// user the server runs as (the data directory's owner), so it can run as root or as that user.
public struct ServerSetupCheck: Sendable {
    /// What to check.
    public struct Request: Sendable {
        /// The data directory, or a configuration directory holding postgresql.conf (Debian's
        /// /etc/postgresql/15/main), as given to `postgres -D`.
        public var directory: String?
        /// postgresql.conf, as given to `postgres --config-file` (default: DIRECTORY/postgresql.conf).
        public var configFile: String?
        /// `-c name=value` overrides, in order.
        public var overrides: [Override] = []
        /// The major version whose rules apply (default: the data directory's PG_VERSION).
        public var majorVersion: Int?
        /// The OS user the server runs as (default: the data directory's owner).
        public var osUser: String?
        /// Host names clients use with sslmode=verify-full (`--name`).
        public var hostNames: [String] = []
        /// Warn about certificates expiring within this many days.
        public var expiryWarningDays = 30
        /// `--client-cert`: the certificate a client sends (PEM, leaf first, then intermediates).
        public var clientCertificate: String?
        /// The role it should log in as.
        public var user: String?
        /// The database (default: the role's name).
        public var database: String?
        /// The client address the server sees (default 127.0.0.1).
        public var clientAddress: String?
        /// `--admin`: a privileged connection to the running server.
        public var admin: ConnectionOptions?

        /// An empty request (give a directory, a configuration file or an admin connection).
        public init() {}
    }

    /// A `-c name=value` override.
    public struct Override: Sendable, Hashable {
        /// The setting.
        public var name: String
        /// Its value.
        public var value: String
        /// Creates an override.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Input the check cannot work with (exit 64): names the input and the fix.
    public struct InputError: Error, Sendable, CustomStringConvertible {
        /// What is wrong and how to fix it.
        public var message: String
        /// The message.
        public var description: String { message }
        /// Creates an input error.
        public init(_ message: String) { self.message = message }
    }

    /// The time certificates are judged at.
    public var now: Date
    /// Where `--admin`'s connection logs.
    public var logger: Logger

    /// Creates a check.
    public init(now: Date = Date(), logger: Logger = Logger(label: "pgconnect.server")) {
        self.now = now
        self.logger = logger
    }

    /// Runs the check.
    public func run(_ request: Request) async throws -> ServerSetupReport {
        if let admin = request.admin {
            return try await ServerAdminView(request: request, options: admin, now: now, logger: logger).run()
        }
        return try checkFiles(request)
    }

    // MARK: Offline

    /// The files a server would read, located as `postgres -D DIRECTORY [--config-file FILE]` locates them.
    struct Locations {
        var configDirectory: String
        var configFile: String
        var dataDirectory: String
        var majorVersion: Int
        var versionSource: String
        var user: ServerOSUser
    }

    func locate(_ request: Request) throws -> (Locations, ServerConfiguration) {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String {
            AuthFilePath.canonicalize(path.hasPrefix("/") ? path : AuthFilePath.join(cwd, path))
        }
        guard request.directory != nil || request.configFile != nil else {
            throw InputError("give the data directory (pgconnect-check server /var/lib/postgresql/15/main) or --config /path/to/postgresql.conf")
        }
        let configFile = absolute(request.configFile ?? AuthFilePath.join(request.directory!, "postgresql.conf"))
        let configDirectory = request.directory.map(absolute) ?? AuthFilePath.parentDirectory(of: configFile)
        if let directory = request.directory, (try? ServerOSUser.status(directory).get())?.isDirectory != true {
            throw InputError("\(directory) is not a directory: give the server's data directory (where PG_VERSION and postgresql.conf are) or its configuration directory")
        }
        guard FileManager.default.fileExists(atPath: configFile) else {
            throw InputError("\(configFile) does not exist: give the data directory holding postgresql.conf, or --config /path/to/postgresql.conf")
        }
        // data_directory comes from postgresql.conf when it sets it, else the directory given (postgres -D).
        let first = ServerConfiguration.load(configFile: configFile, dataDirectory: configDirectory, majorVersion: request.majorVersion ?? 15,
                                             overrides: request.overrides.map { ($0.name, $0.value) })
        var dataDirectory = configDirectory
        if let value = first.entry("data_directory")?.value, !value.isEmpty {
            dataDirectory = AuthFilePath.canonicalize(value.hasPrefix("/") ? value : AuthFilePath.join(configDirectory, value))
        }
        var majorVersion = request.majorVersion
        var versionSource = "--pg-version"
        if majorVersion == nil, let data = FileManager.default.contents(atPath: AuthFilePath.join(dataDirectory, "PG_VERSION")) {
            let text = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            majorVersion = Int(text.split(separator: ".").first ?? "")
            versionSource = "PG_VERSION"
        }
        guard let majorVersion else {
            throw InputError("cannot tell the PostgreSQL version: \(dataDirectory)/PG_VERSION is missing or unreadable; give --pg-version N (13–17)")
        }
        guard ServerSettings.supportedVersions.contains(majorVersion) else {
            throw InputError("PostgreSQL \(majorVersion) (\(versionSource)): the server rules encoded here are those of 13–17; give --pg-version with the nearest of those to check anyway")
        }
        let user: ServerOSUser
        if let name = request.osUser {
            guard let named = ServerOSUser.named(name) else { throw InputError("--os-user \(name): no such OS user") }
            user = named
        } else {
            user = ServerOSUser.owner(of: dataDirectory) ?? ServerOSUser.owner(of: configDirectory) ?? ServerOSUser.withID(0)
        }
        let configuration = ServerConfiguration.load(configFile: configFile, dataDirectory: dataDirectory, majorVersion: majorVersion,
                                                     overrides: request.overrides.map { ($0.name, $0.value) })
        return (Locations(configDirectory: configDirectory, configFile: configFile, dataDirectory: dataDirectory,
                          majorVersion: majorVersion, versionSource: versionSource, user: user), configuration)
    }

    /// The authentication files' paths: `hba_file`/`ident_file` when set (relative to the data
    /// directory, the server's working directory), else beside postgresql.conf.
    static func authFiles(_ configuration: ServerConfiguration, configDirectory: String) -> (hba: String, ident: String) {
        func path(_ setting: String, _ name: String) -> String {
            if let value = configuration.entry(setting)?.value, !value.isEmpty {
                return AuthFilePath.canonicalize(value.hasPrefix("/") ? value : AuthFilePath.join(configuration.dataDirectory, value))
            }
            return AuthFilePath.join(configDirectory, name)
        }
        return (path("hba_file", "pg_hba.conf"), path("ident_file", "pg_ident.conf"))
    }

    /// What only the running server knows (`--admin`), added to a check of its files.
    struct OnlineFacts {
        var findings: [ServerFinding] = []
        /// Role and database facts for `--client-cert`, and the role's memberships.
        var roleFacts: [ServerFinding] = []
        var memberships: [String]?
        var serverVersion: String?
        /// name → the running value, for settings whose files say otherwise.
        var pending: [String: String] = [:]
    }

    func checkFiles(_ request: Request, online: OnlineFacts? = nil) throws -> ServerSetupReport {
        let (locations, configuration) = try locate(request)
        let (hbaPath, identPath) = Self.authFiles(configuration, configDirectory: locations.configDirectory)
        var findings: [ServerFinding] = configuration.problems.map { .configProblem($0) } + (online?.findings ?? [])
        for (setting, assumed) in [("hba_file", hbaPath), ("ident_file", identPath)] {
            if let value = configuration.entry(setting)?.value, !value.isEmpty, !value.hasPrefix("/") {
                findings.append(.relativeAuthFilePath(setting: setting, value: value, assumed: assumed))
            }
        }

        let tls = ServerTLSInspector(configuration: configuration, user: locations.user, hostNames: request.hostNames,
                                     expiryWarningDays: request.expiryWarningDays, now: now).inspect()
        findings += tls.findings
        let hba = ServerAuthInspector.forVersion(HBAFile.load(path: hbaPath), majorVersion: locations.majorVersion)
        let ident = IdentFile.load(path: identPath)
        // Whether the server asks for client certificates (ssl_ca_file set; a file that fails to load
        // stops the server anyway).
        let caLoaded = !(configuration.value("ssl_ca_file") ?? "").isEmpty
        findings += ServerAuthInspector(hba: hba, ident: ident, majorVersion: locations.majorVersion, sslEnabled: tls.sslEnabled,
                                        caLoaded: caLoaded).inspect()

        var login: LoginFacts?
        if let certificate = request.clientCertificate {
            login = try predictLogin(request, certificate: certificate, configuration: configuration, tls: tls, hba: hba, ident: ident,
                                     caLoaded: caLoaded, roleFacts: online?.roleFacts ?? [], memberships: online?.memberships)
        }
        let explainer = ServerSetupExplainer(majorVersion: locations.majorVersion, dataDirectory: locations.dataDirectory,
                                             configFile: locations.configFile, hbaFile: hbaPath, identFile: identPath, osUser: locations.user.name)
        let server = ServerSetupReport.Server(source: online == nil ? "files" : "admin", dataDirectory: locations.dataDirectory,
                                              configFile: locations.configFile, hbaFile: hbaPath, identFile: identPath,
                                              majorVersion: locations.majorVersion, versionSource: online == nil ? locations.versionSource : "server",
                                              serverVersion: online?.serverVersion, osUser: locations.user.name)
        let checks: [Report.Check] = [
            .init(layer: .config, id: "server-config", status: configuration.problems.isEmpty ? .pass : .fail,
                  summary: "PostgreSQL \(locations.majorVersion) (\(locations.versionSource)) configuration read as the server reads it: \(configuration.files.count) file(s), server runs as \(locations.user.name)",
                  detail: configuration.files.joined(separator: "\n")),
        ]
        let settings = Self.reportedSettings.compactMap { name -> ServerSetupReport.Setting? in
            guard let value = configuration.value(name) else { return nil }
            return .init(name: name, value: online?.pending[name] ?? value, origin: online?.pending[name] == nil ? configuration.origin(name) : "server",
                         pendingValue: online?.pending[name] == nil ? nil : value)
        }
        return Self.assemble(findings: findings, login: login, explainer: explainer, server: server, checks: checks, settings: settings)
    }

    /// The settings a report lists.
    static let reportedSettings = ["ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_crl_file", "ssl_crl_dir",
                                   "ssl_min_protocol_version", "ssl_max_protocol_version", "ssl_ciphers", "ssl_ecdh_curve",
                                   "ssl_passphrase_command", "ssl_passphrase_command_supports_reload", "hba_file", "ident_file",
                                   "listen_addresses"]

    // MARK: The login

    /// What the login check found, for the report.
    struct LoginFacts {
        var login: ServerSetupReport.Login
        var findings: [ServerFinding]
    }

    func predictLogin(_ request: Request, certificate: String, configuration: ServerConfiguration, tls: ServerTLSInspector.Result,
                      hba: HBAFile, ident: IdentFile, caLoaded: Bool,
                      roleFacts: [ServerFinding] = [], memberships: [String]? = nil) throws -> LoginFacts {
        guard let user = request.user else { throw InputError("--client-cert needs --user ROLE: the role the certificate should log in as") }
        let database = request.database ?? user
        let address = request.clientAddress ?? "127.0.0.1"
        func absolute(_ path: String) -> String {
            path.isEmpty || path.hasPrefix("/") ? path : AuthFilePath.join(configuration.dataDirectory, path)
        }
        let predictor = ServerLoginPredictor(certificatePath: certificate, user: user, database: database, clientAddress: address,
                                             caFile: absolute(configuration.value("ssl_ca_file") ?? ""),
                                             crlFile: absolute(configuration.value("ssl_crl_file") ?? ""),
                                             crlDirectory: absolute(configuration.value("ssl_crl_dir") ?? ""))
        let (chain, unreadable) = predictor.readCertificate()
        if let unreadable, case .clientCertificateUnreadable(_, let problem) = unreadable {
            throw InputError("--client-cert \(certificate): \(problem)")
        }
        let leaf = chain[0].info
        var login = ServerSetupReport.Login(certificateFile: certificate, user: user, database: database, clientAddress: address,
                                            subject: leaf.subject, commonName: leaf.commonName)
        var findings: [ServerFinding] = []
        guard tls.sslEnabled else { return LoginFacts(login: login, findings: findings) }
        // Without a CA the server asks for no certificate, so the client sends none.
        var presented = false
        if caLoaded {
            let verdict = predictor.verify(chain)
            findings.append(verdict)
            if case .clientChainVerified(_, let subjects) = verdict {
                login.verifiedChain = subjects
                presented = true
            } else {
                return LoginFacts(login: login, findings: findings)
            }
        }
        var simulationRequest = HBASimulator.Request(clientAddress: address, database: database, user: user,
                                                     certificate: presented ? leaf : nil, roleMemberships: memberships)
        simulationRequest.clientCertificatePresented = presented
        let outcome = HBASimulator(hba: hba, ident: ident).simulate(simulationRequest)
        findings.append(.loginSimulated(outcome, request: simulationRequest))
        findings += roleFacts
        login.decision = outcome.decision.description
        login.steps = outcome.steps
        login.hbaLine = outcome.rule.map { Report.HBALine(file: $0.file, line: $0.lineNumber, text: HBASimulator.collapse($0.text)) }
        login.identMap = outcome.rule?.map
        return LoginFacts(login: login, findings: findings)
    }

    // MARK: Assembling the report

    static func assemble(findings: [ServerFinding], login: LoginFacts?, explainer: ServerSetupExplainer, server: ServerSetupReport.Server,
                         checks initialChecks: [Report.Check], settings: [ServerSetupReport.Setting]) -> ServerSetupReport {
        var checks = initialChecks
        var problems: [ServerSetupReport.Problem] = []
        var warnings: [Report.Warning] = []
        // One server-no-ca problem with every certificate line as evidence, rather than one per line.
        var noCA: Int?
        for finding in findings {
            let explained = explainer.explain(finding)
            checks += explained.checks
            for problem in explained.problems {
                guard problem.code == .serverNoCA else {
                    problems.append(problem)
                    continue
                }
                if noCA == nil {
                    noCA = problems.count
                    problems.append(problem)
                }
                if let line = problem.hbaLine, let index = noCA {
                    problems[index].evidence.append("\(HBASimulator.baseName(line.file)) line \(line.line) needs a client certificate: \(line.text)")
                    problems[index].hbaLine = nil
                    problems[index].file = nil
                    problems[index].line = nil
                }
            }
            warnings += explained.warnings
        }
        // Server order within each consequence, worst first.
        let setupProblems = problems.enumerated().sorted { lhs, rhs in
            lhs.element.consequence.outcome != rhs.element.consequence.outcome
                ? lhs.element.consequence.outcome > rhs.element.consequence.outcome : lhs.offset < rhs.offset
        }.map(\.element)

        var outcome = setupProblems.first?.consequence.outcome ?? .ready
        var diagnosis = setupProblems.first
        var reportLogin: ServerSetupReport.Login?
        var allProblems = setupProblems
        if let login {
            let (loginProblem, loginChecks) = explainLogin(login, explainer: explainer)
            checks += loginChecks
            reportLogin = login.login
            reportLogin?.succeeds = loginProblem == nil && outcome != .willNotStart
            // The login's own answer decides, unless the server will not even start.
            if outcome != .willNotStart {
                let sslOff = setupProblems.first { $0.code == .sslNotSupported }
                if let sslOff {
                    outcome = .unreachable
                    diagnosis = sslOff
                    reportLogin?.succeeds = false
                } else if let loginProblem {
                    outcome = loginProblem.consequence.outcome
                    diagnosis = loginProblem
                    allProblems.insert(loginProblem, at: 0)
                } else {
                    outcome = .ready
                    diagnosis = nil
                }
            }
        }
        return ServerSetupReport(outcome: outcome, server: server, login: reportLogin, checks: checks, diagnosis: diagnosis,
                                 problems: allProblems, warnings: warnings, settings: settings)
    }

    /// The login's checks, and its problem when it fails — with the client-side check's codes.
    static func explainLogin(_ facts: LoginFacts, explainer: ServerSetupExplainer) -> (ServerSetupReport.Problem?, [Report.Check]) {
        var checks: [Report.Check] = []
        var problem: ServerSetupReport.Problem?
        for finding in facts.findings {
            switch finding {
            case .clientChainVerified(let info, let chain):
                checks.append(.init(layer: .tls, id: "client-chain", status: .pass,
                                    summary: "client certificate \(info.subject) verifies against ssl_ca_file\(chain.count > 1 ? " (\(chain.dropFirst().joined(separator: " → ")))" : "")"))
            case .clientChainRejected(let info, let error, let depth, let reason, let failed):
                checks.append(.init(layer: .tls, id: "client-chain", status: .fail, summary: "client certificate \(info.subject): \(reason) (depth \(depth))"))
                let (code, layer, clientMessage) = chainVerdict(error)
                var evidence = ["X509 verification as the server does it: \(reason) at depth \(depth) (\(failed))"]
                if explainer.majorVersion >= 16 {
                    evidence.append("The server logs DETAIL: Client certificate verification failed at depth \(depth): \(reason).")
                }
                problem = .init(code: code, layer: layer, consequence: .handshakeFails,
                                summary: "The server's TLS layer refuses \(info.subject): \(reason)",
                                whatHappens: "The handshake fails before pg_hba.conf is read; the client sees a TLS alert.",
                                explanation: "The server verifies a client's chain against ssl_ca_file (and, when set, the CRLs for every CA of the chain) as an OpenSSL TLS server does (purpose sslclient).",
                                evidence: evidence, fixes: chainFixes(code), serverMessage: "could not accept SSL connection: certificate verify failed",
                                clientMessage: clientMessage)
            case .loginSimulated(let outcome, let request):
                let line = outcome.rule.map { "\(HBASimulator.baseName($0.file)) line \($0.lineNumber) (\(HBASimulator.collapse($0.text)))" }
                let hbaLine = outcome.rule.map(explainer.hbaLine)
                let failed = loginProblem(outcome, request: request, hbaLine: hbaLine)
                checks.append(.init(layer: .authentication, id: "login", status: failed == nil ? .pass : .fail,
                                    summary: (line.map { "\($0): " } ?? "") + outcome.decision.description,
                                    detail: outcome.steps.joined(separator: "\n")))
                if problem == nil { problem = failed }
            case .roleMissing(let role):
                if problem == nil {
                    problem = .init(code: .roleMissing, layer: .authorization, consequence: .loginRefused, summary: "Role \"\(role)\" does not exist",
                                    whatHappens: "The login passes pg_hba.conf and then fails.", explanation: "The certificate maps to a role the server does not have.",
                                    fixes: ["CREATE ROLE \"\(role)\" LOGIN;"], clientMessage: "role \"\(role)\" does not exist")
                }
            case .roleCannotLogin(let role):
                if problem == nil {
                    problem = .init(code: .roleCannotLogin, layer: .authorization, consequence: .loginRefused, summary: "Role \"\(role)\" may not log in",
                                    whatHappens: "The login passes pg_hba.conf and then fails.", explanation: "The role is NOLOGIN.",
                                    fixes: ["ALTER ROLE \"\(role)\" LOGIN;"], clientMessage: "role \"\(role)\" is not permitted to log in")
                }
            case .databaseMissing(let database):
                if problem == nil {
                    problem = .init(code: .databaseMissing, layer: .authorization, consequence: .loginRefused, summary: "Database \"\(database)\" does not exist",
                                    whatHappens: "The login passes pg_hba.conf and then fails.", explanation: "No such database.",
                                    fixes: ["CREATE DATABASE \"\(database)\";"], clientMessage: "database \"\(database)\" does not exist")
                }
            case .connectDenied(let role, let database):
                if problem == nil {
                    problem = .init(code: .connectDenied, layer: .authorization, consequence: .loginRefused,
                                    summary: "Role \"\(role)\" has no CONNECT privilege on \"\(database)\"",
                                    whatHappens: "The login passes pg_hba.conf and then fails.", explanation: "CONNECT is not granted.",
                                    fixes: ["GRANT CONNECT ON DATABASE \"\(database)\" TO \"\(role)\";"],
                                    clientMessage: "permission denied for database \"\(database)\"")
                }
            default:
                break
            }
        }
        return (problem, checks)
    }

    /// The code, layer and client message (OpenSSL 3) for the server's X509 verification error.
    static func chainVerdict(_ error: Int32) -> (DiagnosisCode, Layer, String?) {
        switch error {
        case X509_V_ERR_CERT_HAS_EXPIRED: return (.clientCertExpired, .clientFiles, "SSL error: ssl/tls alert certificate expired")
        case X509_V_ERR_CERT_NOT_YET_VALID: return (.clientCertNotYetValid, .clientFiles, nil)
        case X509_V_ERR_CERT_REVOKED: return (.clientCertRevoked, .tls, "SSL error: ssl/tls alert certificate revoked")
        case X509_V_ERR_INVALID_PURPOSE: return (.clientCertWrongUsage, .clientFiles, nil)
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_UNABLE_TO_GET_CRL,
             X509_V_ERR_CERT_CHAIN_TOO_LONG, X509_V_ERR_INVALID_CA, X509_V_ERR_PATH_LENGTH_EXCEEDED, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
            return (.clientCertUnknownCA, .tls, "SSL error: tlsv1 alert unknown ca")
        default: return (.clientCertRejected, .tls, nil)
        }
    }

    static func chainFixes(_ code: DiagnosisCode) -> [String] {
        switch code {
        case .clientCertExpired: return ["Issue the client a new certificate"]
        case .clientCertNotYetValid: return ["Check the clocks (date -u), or issue a certificate valid from now"]
        case .clientCertRevoked: return ["The certificate is on the server's CRL: issue the client a new one"]
        case .clientCertWrongUsage: return ["Issue the client certificate with extendedKeyUsage = clientAuth"]
        case .clientCertUnknownCA: return ["Add the client certificate's issuing CA (and its root) to ssl_ca_file, or issue the certificate from a CA ssl_ca_file holds; with a CRL set, add a CRL for every CA of the chain; then SELECT pg_reload_conf();"]
        default: return ["openssl verify -purpose sslclient -CAfile <ssl_ca_file> -crl_check_all -CRLfile <ssl_crl_file> CLIENT.crt shows the reason"]
        }
    }

    static func loginProblem(_ outcome: HBASimulator.Outcome, request: HBASimulator.Request, hbaLine: Report.HBALine?) -> ServerSetupReport.Problem? {
        let user = request.user, database = request.database, host = request.clientAddress
        // The lines skipped on the way are in the login check's detail; the evidence starts where it matters.
        let steps = outcome.steps.filter { !$0.contains(": skipped — ") }
        let map = outcome.rule?.map
        func refused(_ code: DiagnosisCode, _ summary: String, _ explanation: String, fixes: [String], client: String?) -> ServerSetupReport.Problem {
            .init(code: code, layer: .authentication, consequence: .loginRefused, summary: summary,
                  whatHappens: "The server refuses the login after the TLS handshake.", explanation: explanation, evidence: steps,
                  fixes: fixes, clientMessage: client, hbaLine: hbaLine, identMap: map)
        }
        switch outcome.decision {
        case .accepted:
            return nil
        case .passwordRequired(let method):
            return refused(.passwordRequired, "The deciding line asks for a password (\(method)); the certificate alone does not log in",
                           "The first matching line's method is \(method).", fixes: ["Use the cert method on that line (hostssl … cert), or supply the password"],
                           client: nil)
        case .noEntry:
            return refused(.hbaNoEntry, "No pg_hba.conf line matches \(user)@\(database) from \(host) over TLS", "First match wins; no line matched.",
                           fixes: ["Add: hostssl \(database) \(user) \(host)/\(host.contains(":") ? 128 : 32) cert — then SELECT pg_reload_conf();"],
                           client: "no pg_hba.conf entry for host \"\(host)\", user \"\(user)\", database \"\(database)\", SSL encryption")
        case .reject:
            return refused(.hbaReject, "The first matching pg_hba.conf line rejects the login", "A reject line matched first.",
                           fixes: ["Put a hostssl … cert line for this login above the reject line"],
                           client: "pg_hba.conf rejects connection for host \"\(host)\", user \"\(user)\", database \"\(database)\", SSL encryption")
        case .clientCertificateRequired:
            return .init(code: .serverNoCA, layer: .authentication, consequence: .neverAsksForCertificate,
                         summary: "The deciding line needs a client certificate, and the server has no ssl_ca_file to ask for one",
                         whatHappens: "The server never asks clients for a certificate, so this login fails.",
                         explanation: "The server requests a client certificate only when ssl_ca_file is set.", evidence: steps,
                         fixes: ["ssl_ca_file = 'root.crt' (the CA of the client certificates), then SELECT pg_reload_conf();"],
                         clientMessage: "client certificates can only be checked if a root certificate store is available", hbaLine: hbaLine, identMap: map)
        case .certificateNameMismatch(let identity, _):
            let method = outcome.rule?.method ?? "cert"
            return refused(.certNameMismatch, "The certificate's \(outcome.rule?.clientName ?? "CN") \"\(identity)\" is not the role \"\(user)\", and the line has no map",
                           "With no map= the CN (or DN with clientname=DN) must equal the role exactly.",
                           fixes: ["Issue the certificate with CN=\(user), or add map=NAME to the line and a pg_ident.conf line: NAME \"\(identity)\" \(user)"],
                           client: HBASimulator.failureMessage(method: method, user: user))
        case .identMapNoMatch(let map, let identity, _):
            return refused(.identMapNoMatch, "Map \"\(map)\" has no line that maps \"\(identity)\" to \"\(user)\"", "pg_ident.conf decides which certificate names may log in as which roles.",
                           fixes: ["Add to pg_ident.conf: \(map) \"\(identity)\" \(user) — then SELECT pg_reload_conf();"],
                           client: HBASimulator.failureMessage(method: outcome.rule?.method ?? "cert", user: user))
        case .unknownMap(let map):
            return refused(.identMapNoMatch, "Map \"\(map)\" has no lines in pg_ident.conf", "Map names are case-sensitive.",
                           fixes: ["Add to pg_ident.conf: \(map) <certificate CN or DN> \(user)"],
                           client: HBASimulator.failureMessage(method: outcome.rule?.method ?? "cert", user: user))
        case .undecidable(let reason):
            return .init(code: .unknown, layer: .authentication, consequence: .loginRefused, summary: "Cannot tell what the server decides: \(reason)",
                         whatHappens: "It depends on what the simulation was not told.", explanation: reason, evidence: steps,
                         fixes: ["Give --admin for role memberships, or --client-addr for the address the server sees"], hbaLine: hbaLine, identMap: map)
        }
    }
}
