#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect

/// Follows one certificate login through the layers and reports what happened.
///
/// ```swift
/// let report = await LoginChecker().check(options)
/// print(TextReportRenderer().render(report))
/// ```
///
/// A check is one pass, in this order (each stage returns typed facts; only ``Diagnoser``
/// decides, and the renderers only format):
///
/// 1. ``ResolvedTarget``: the options, service file, `PG*` environment and libpq's file
///    locations, resolved once.
/// 2. The client files by libpq's rules (``ClientFilesInspector``): findings, which
///    ``ClientFilesExplainer`` words for the ``Diagnoser`` as a prediction.
/// 3. libpq's own attempt — always, unless `--no-connect`, even when the files predict a
///    failure — with a TLS probe of our own when libpq's message is not enough.
/// 4. The pg_hba.conf/pg_ident.conf simulation, when the server's files or an administrator
///    connection are given.
/// 5. ``Diagnoser``: the facts become the report; where libpq's result contradicts a
///    prediction, libpq wins and the report says so (`prediction-contradicted`).
public struct LoginChecker: Sendable {
    /// The overall limit for libpq's attempt when no `connect_timeout` is set anywhere
    /// (conninfo, service file, `PGCONNECT_TIMEOUT`). With one, libpq's own rule bounds each host
    /// attempt, as in psql, and this limit does not apply.
    public var timeout: Duration
    /// Warn about certificates that expire within this many days.
    public var expiryWarningDays: Int
    public var logger: Logger
    /// The server's pg_hba.conf/pg_ident.conf (or an administrator connection) for an exact simulation.
    public var authSource: AuthConfiguration.Source?
    /// The client address the server sees, for the simulation; default: this machine's source address.
    public var clientAddress: String?
    /// Whether to connect; without, only the local checks and the simulation run (`--no-connect`),
    /// and nothing is sent to the server being checked.
    public var connects: Bool
    /// How long libpq's attempt may wait for the server on the calling thread (see
    /// `Connection.connect(_:timeout:logger:inlineWait:)`): keep the default, zero (every wait on
    /// the connection's queue), where checks run beside other work; a tool that runs one check
    /// and nothing else may allow the whole timeout.
    public var inlineWait: Duration = .zero
    /// Shared by the checks of one `--targets` run (see ``ClientFilesCache``).
    var filesCache: ClientFilesCache?

    public init(timeout: Duration = .seconds(30), expiryWarningDays: Int = 30, logger: Logger = Logger(label: "pgconnect.check"),
                authSource: AuthConfiguration.Source? = nil, clientAddress: String? = nil, connects: Bool = true) {
        self.timeout = timeout
        self.expiryWarningDays = expiryWarningDays
        self.logger = logger
        self.authSource = authSource
        self.clientAddress = clientAddress
        self.connects = connects
    }

    /// Checks a login with `options` (libpq's `PG*` variables and defaults fill the rest).
    public func check(_ options: ConnectionOptions) async -> Report {
        await check(ResolvedTarget(options))
    }

    /// Checks a resolved login: the stages gather facts, the ``Diagnoser`` decides.
    public func check(_ target: ResolvedTarget) async -> Report {
        var facts = CheckFacts(target: target, clientAddressGiven: clientAddress != nil)
        if target.invalid == nil {
            let inspector = ClientFilesInspector(expiryWarningDays: expiryWarningDays)
            let files = filesCache?.inspect(target, with: inspector) ?? inspector.inspect(target)
            facts.files = files
            if connects, let hazard = target.attemptHazard {
                // The exceptions to libpq first (LibPQRules.attemptHazard).
                facts.attempt = .notMade(reason: hazard)
            } else if connects {
                facts.attempt = await attempt(target, files: files)
            }
            if let authSource {
                facts.simulation = await simulate(target, files: files, attempt: facts.attempt, source: authSource)
            }
        }
        var report = Diagnoser(expiryWarningDays: expiryWarningDays).report(facts)
        report.certificateExpiry = Self.certificateExpiry(facts)
        return report
    }

    /// The not-after times of the client certificate (its file) and the server's (the session,
    /// else the TLS probe of a failed attempt).
    static func certificateExpiry(_ facts: CheckFacts) -> Report.CertificateExpiry {
        var expiry = Report.CertificateExpiry(client: facts.files?.clientChain.first?.notAfter)
        switch facts.attempt {
        case .connected(let connected)?:
            expiry.server = connected.tls?.serverCertificate?.notAfter
        case .failed(_, let probe)?:
            expiry.server = probe?.serverChain.first?.notAfter
        default:
            break
        }
        return expiry
    }

    // MARK: Stage: libpq's own attempt

    /// The limit passed to libpq's attempt. With a `connect_timeout`, libpq's own rule bounds each
    /// host attempt and this only guards against a hang: every host's full timeout, with room to
    /// spare, so libpq's timeout always fires first (its words, at psql's moment).
    func overallLimit(_ target: ResolvedTarget) -> Duration {
        if let seconds = target.effective["connect_timeout"].flatMap({ Int($0.trimmingScalars(in: .whitespaces)) }), seconds > 0 {
            let hosts = max(target.effective.host.count, target.effective.hostaddr.count, 1)
            return max(timeout, .seconds(max(seconds, 2) * hosts * 2 + 5))
        }
        return timeout
    }

    func attempt(_ target: ResolvedTarget, files: ClientFilesInspector.Result) async -> AttemptFacts {
        let connection: Connection
        do {
            connection = try await Connection.connect(target.options, timeout: overallLimit(target), logger: logger,
                                                      inlineWait: inlineWait)
        } catch let error as ConnectionError {
            var probe: TLSProbe.Result?
            if FailureExplainer().wantsProbe(error) {
                if let seen = TLSProbe.Result(handshakeOf: error, host: target.firstHost, port: target.firstPort) {
                    probe = seen
                } else {
                    probe = await TLSProbe(timeout: min(timeout, .seconds(10))).probe(target)
                }
            }
            return .failed(error, probe: probe)
        } catch {
            return .failed(ConnectionError(code: .connectionFailed, phase: .connecting, message: "\(error)"), probe: nil)
        }
        let view = await Self.serverView(connection)
        await connection.close()
        return .connected(ConnectedFacts(
            tls: connection.tlsSession, timings: connection.timings.phaseDurations.map { ($0.phase, $0.duration.milliseconds) },
            server: view.report, serverDetail: view.detail,
            sslmode: connection.effectiveOptions.sslmode ?? target.sslmode))
    }

    /// The server's view of the session: the JSON fields, and for people the session user,
    /// system_user (16+: the authenticated identity) and the backend's pg_stat_ssl row — read from
    /// `pg_stat_get_activity(pg_backend_pid())`, the function under that view, which on a new
    /// backend costs about a third less than planning the view and reads only this backend's entry.
    static func serverView(_ connection: Connection) async -> (report: Report.ServerReport, detail: String?) {
        let systemUser = connection.serverVersion >= 160_000 ? "system_user" : "NULL::text"
        let sql = """
            SELECT current_setting('server_version'), current_user, s.ssl_client_dn, s.ssl, session_user, \(systemUser),
                   s.sslversion, s.sslcipher, s.ssl_issuer_dn
            FROM pg_stat_get_activity(pg_backend_pid()) s
            """
        guard let result = try? await connection.query(sql), let row = result.first else {
            return (Report.ServerReport(version: nil, currentUser: nil, clientDN: nil, ssl: connection.tlsSession != nil), nil)
        }
        var detail = ["session_user \(row[4].string ?? "?")"]
        if let identity = row[5].string { detail.append("system_user \(identity)") }
        if row[3].bool == true {
            detail.append("pg_stat_ssl: \(row[6].string ?? "?") \(row[7].string ?? "?"), client_dn \(row[2].string ?? "none"), issuer_dn \(row[8].string ?? "none")")
        }
        return (Report.ServerReport(version: row[0].string, currentUser: row[1].string, clientDN: row[2].string, ssl: row[3].bool),
                detail.joined(separator: "\n"))
    }

    // MARK: Stage: pg_hba.conf / pg_ident.conf simulation

    func simulate(_ target: ResolvedTarget, files: ClientFilesInspector.Result, attempt: AttemptFacts?,
                  source: AuthConfiguration.Source) async -> SimulationFacts {
        let effective = target.effective
        let user = effective.user.flatMap { $0.isEmpty ? nil : $0 } ?? ClientFilesInspector.currentUserName()
        let database = effective.dbname.flatMap { $0.isEmpty ? nil : $0 } ?? user
        let configuration = await AuthConfiguration.load(source, user: user, database: database,
                                                         timeout: min(timeout, .seconds(10)), logger: logger)
        var facts = SimulationFacts(configuration: configuration, user: user, database: database)
        guard !configuration.hba.rules.isEmpty || !configuration.hba.errors.isEmpty else { return facts }

        let host = target.firstHost
        let unixSocket = host.hasPrefix("/")
        let address = clientAddress
            ?? (unixSocket ? nil : SourceAddress.toward(host: effective.hostaddr.first ?? host, port: target.firstPort))
            ?? "127.0.0.1"
        let ssl: Bool
        switch attempt {
        case .connected(let connected)?:
            ssl = connected.tls != nil
        case .failed(let error, _)? where FailureExplainer.decisiveAttempt(error) != nil:
            // How the server says the connection arrived ("no encryption", "SSL encryption", …).
            switch FailureExplainer.recognize(error)?.details.encryption {
            case "no encryption"?, "ssl off"?: ssl = false
            case "ssl encryption"?, "ssl on"?: ssl = true
            default: ssl = target.sslmode != .disable && !unixSocket
            }
        default:
            ssl = target.sslmode != .disable && !unixSocket
        }
        let leaf = files.clientChain.first
        let request = HBASimulator.Request(connectionType: unixSocket ? .local : .tcp, ssl: ssl, clientAddress: address,
                                           database: database, user: user, roleMemberships: configuration.roleMemberships,
                                           certificateCommonName: leaf?.commonName, certificateDN: leaf?.subject,
                                           clientCertificatePresented: ssl && files.sendsCertificate)
        facts.address = address
        facts.addressGiven = clientAddress != nil
        facts.ssl = ssl
        facts.outcome = HBASimulator(hba: configuration.hba, ident: configuration.ident).simulate(request)
        return facts
    }
}

// MARK: Facts

/// Everything the stages of one check found, as typed values: the ``Diagnoser``'s input.
public struct CheckFacts: Sendable {
    public var target: ResolvedTarget
    /// Whether the simulation's client address was given (`--client-addr`) rather than found.
    public var clientAddressGiven: Bool
    /// The client files by libpq's rules; nil when the options are invalid.
    public var files: ClientFilesInspector.Result?
    /// libpq's own attempt; nil when none was made (`--no-connect`, invalid options).
    public var attempt: AttemptFacts?
    /// The pg_hba.conf/pg_ident.conf simulation; nil without `--hba` or `--admin`.
    public var simulation: SimulationFacts?

    public init(target: ResolvedTarget, clientAddressGiven: Bool = false) {
        self.target = target
        self.clientAddressGiven = clientAddressGiven
    }
}

/// libpq's own attempt.
public enum AttemptFacts: Sendable {
    case connected(ConnectedFacts)
    /// libpq's error, verbatim, and what a TLS probe of ours saw when libpq's message was not enough.
    case failed(ConnectionError, probe: TLSProbe.Result?)
    /// Not made because it could not end (a file libpq would wait on forever).
    case notMade(reason: String)
}

/// What a successful attempt was.
public struct ConnectedFacts: Sendable {
    public var tls: TLSSession?
    public var timings: [(phase: String, milliseconds: Double)]
    public var server: Report.ServerReport
    public var serverDetail: String?
    /// The sslmode libpq used.
    public var sslmode: SSLMode
}

/// The simulation of the server's pg_hba.conf/pg_ident.conf for this login.
public struct SimulationFacts: Sendable {
    public var configuration: AuthConfiguration
    public var user: String
    public var database: String
    /// The client address the simulation used.
    public var address: String?
    /// Whether it was given (`--client-addr`) rather than found (the source address toward the server).
    public var addressGiven = false
    /// Whether the simulated connection uses SSL.
    public var ssl: Bool?
    /// The simulator's decision; nil when no pg_hba.conf rules could be read.
    public var outcome: HBASimulator.Outcome?
}
