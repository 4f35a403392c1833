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
public struct LoginChecker: Sendable {
    /// Give up on the whole connection attempt after this long.
    public var timeout: Duration
    /// Warn about certificates that expire within this many days.
    public var expiryWarningDays: Int
    public var logger: Logger
    /// The server's pg_hba.conf/pg_ident.conf (or an administrator connection) for an exact simulation.
    public var authSource: AuthConfiguration.Source?
    /// The client address the server sees, for the simulation; default: this machine's source address.
    public var clientAddress: String?
    /// Whether to connect; without, only the local checks and the simulation run (`--no-connect`).
    public var connects: Bool
    /// How long the login's connection may wait for the server on the calling thread (see
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

    /// Checks a login with `options` (libpq's `PG*` variables and defaults fill the rest):
    /// the options, the client files by libpq's rules, then a real libpq connection; a failure
    /// is explained with a TLS probe of the client's own where libpq's message is not enough.
    public func check(_ options: ConnectionOptions) async -> Report {
        var report = await checkInLayers(options)
        // Checks are listed in layer order (stable within a layer), however they were found.
        report.checks = report.checks.enumerated()
            .sorted { ($0.element.layer, $0.offset) < ($1.element.layer, $1.offset) }
            .map(\.element)
        return report
    }

    private func checkInLayers(_ given: ConnectionOptions) async -> Report {
        var options = given
        if let service = given["service"] ?? ProcessInfo.processInfo.environment["PGSERVICE"], !service.isEmpty,
           (try? given.validate()) != nil {
            // Only libpq reads pg_service.conf: take its resolved values once, as explicit options.
            options = given.effective()
            options["service"] = nil
        }
        let effective = options.effective()
        var report = Report(ok: false, target: Self.target(options, effective: effective))
        let explainer = FailureExplainer()

        do {
            try options.validate()
        } catch let error as ConnectionError {
            report.checks.append(.init(layer: .config, id: "options", status: .fail, summary: error.primaryMessage))
            report.diagnosis = explainer.diagnose(error, options: options)
            return report
        } catch {
            report.diagnosis = .init(code: .unknown, layer: .config, summary: "Unexpected error", explanation: "\(error)")
            return report
        }
        report.checks.append(.init(layer: .config, id: "options", status: .pass,
                                   summary: "options accepted (sslmode=\(effective["sslmode"] ?? "prefer"))"))

        // client-files: a problem here means libpq cannot (or silently will not) do what was asked.
        let inspector = ClientFilesInspector(expiryWarningDays: expiryWarningDays)
        let files = filesCache?.inspect(options, with: inspector) ?? inspector.inspect(options)
        report.checks.append(contentsOf: files.checks)
        report.warnings.append(contentsOf: files.warnings)
        if let diagnosis = files.diagnosis {
            report.diagnosis = diagnosis
            report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: nil))
            return report
        }
        if !connects {
            report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: nil, reason: "--no-connect"))
            await applySimulation(to: &report, options: options, files: files, failure: nil, tlsUsed: nil)
            report.ok = report.diagnosis == nil
            return report
        }

        let connection: Connection
        do {
            connection = try await Connection.connect(options, timeout: timeout, logger: logger, inlineWait: inlineWait)
        } catch let error as ConnectionError {
            var probe: TLSProbe.Result?
            if explainer.wantsProbe(error) {
                let host = effective.host.first ?? "localhost", port = effective.port.first ?? 5432
                if let seen = TLSProbe.Result(handshakeOf: error, host: host, port: port) {
                    probe = seen
                } else {
                    probe = await TLSProbe(timeout: min(timeout, .seconds(10))).probe(options)
                }
            }
            let diagnosis = explainer.diagnose(error, options: options, evidence: .init(files: files, probe: probe))
            report.diagnosis = diagnosis
            if diagnosis.layer == .config {
                report.checks = [.init(layer: .config, id: "options", status: .fail, summary: error.primaryMessage)]
            } else if diagnosis.layer == .clientFiles {
                // A client-file cause found through the attempt (e.g. the server's "unknown ca" for a
                // missing intermediate): show where the attempt stopped as well.
                report.checks.append(.init(layer: .clientFiles, id: "client-files-libpq", status: .fail, summary: diagnosis.summary))
                // Under TLS 1.3 the server's alert about the client certificate arrives after the
                // handshake, while libpq already waits for authentication: it is still a TLS event.
                let stopped: Layer = error.primaryMessage.hasPrefix("SSL") ? .tls : max(FailureExplainer.layer(for: error.phase), .network)
                report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: stopped,
                                                                  summary: error.primaryMessage))
            } else {
                report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: diagnosis.layer, summary: diagnosis.summary))
            }
            if let probe, !probe.serverChain.isEmpty { report.tls = Self.tlsReport(probe) }
            await applySimulation(to: &report, options: options, files: files, failure: error, tlsUsed: nil)
            return report
        } catch {
            report.diagnosis = .init(code: .unknown, layer: .network, summary: "Unexpected error", explanation: "\(error)")
            return report
        }

        report.ok = true
        report.timingsMilliseconds = connection.timings.phaseDurations.map { ($0.phase, $0.duration.milliseconds) }
        if let tls = connection.tlsSession {
            report.tls = Self.tlsReport(tls)
        }
        let view = await Self.serverView(connection)
        report.server = view.report
        report.checks.append(contentsOf: Self.successChecks(connection, report: report, serverDetail: view.detail))
        await connection.close()
        // The CA names the server accepts come from libpq's own session: no second handshake.
        report.tls?.clientCANames = connection.tlsSession?.clientCANames
        report.warnings.append(contentsOf: warnings(connection, effective: effective, files: files, clientCANames: report.tls?.clientCANames ?? []))
        await applySimulation(to: &report, options: options, files: files, failure: nil, tlsUsed: connection.tlsSession != nil)
        if !report.warnings.isEmpty {
            report.checks.append(.init(layer: .session, id: "session-risks", status: .warn,
                                       summary: "\(report.warnings.count) warning\(report.warnings.count == 1 ? "" : "s") about this login"))
        }
        return report
    }

    static func target(_ options: ConnectionOptions, effective: ConnectionOptions) -> Report.Target {
        Report.Target(host: effective["host"] ?? effective["hostaddr"], port: effective["port"], user: effective.user,
                      dbname: effective.dbname, sslmode: effective["sslmode"], conninfo: options.redactedConninfo)
    }

    /// The layers after `checked`: pass before the failing one, fail for it, not checked after it
    /// (all "not checked" when nothing was attempted).
    static func layerChecks(after checked: Layer, failedAt failed: Layer?, summary: String = "",
                            reason: String = "no connection attempted") -> [Report.Check] {
        let layers: [(Layer, String, String)] = [
            (.network, "tcp-connect", "reached the server"),
            (.tls, "tls-handshake", "TLS handshake completed"),
            (.authentication, "authentication", "authenticated"),
            (.authorization, "authorization", "authorized"),
        ]
        return layers.filter { $0.0 > checked }.map { layer, id, passed in
            guard let failed else { return .init(layer: layer, id: id, status: .skip, summary: "not checked: \(reason)") }
            if layer < failed { return .init(layer: layer, id: id, status: .pass, summary: passed) }
            if layer == failed { return .init(layer: layer, id: id, status: .fail, summary: summary) }
            return .init(layer: layer, id: id, status: .skip, summary: "not checked")
        }
    }

    static func successChecks(_ connection: Connection, report: Report, serverDetail: String? = nil) -> [Report.Check] {
        var checks: [Report.Check] = []
        checks.append(.init(layer: .network, id: "tcp-connect", status: .pass,
                            summary: "connected to \(report.target.host ?? "?") port \(report.target.port ?? "?")"))
        if let tls = connection.tlsSession {
            let server = tls.serverCertificate.map { " · server certificate \($0.subject)" } ?? ""
            checks.append(.init(layer: .tls, id: "tls-handshake", status: .pass,
                                summary: "\(tls.protocolVersion ?? "TLS") \(tls.cipher ?? "")\(server)"))
        } else {
            checks.append(.init(layer: .tls, id: "tls-handshake", status: .warn, summary: "no TLS: the connection is not encrypted"))
        }
        let dn = report.server?.clientDN.map { " with client certificate \($0)" } ?? " without a client certificate"
        checks.append(.init(layer: .authentication, id: "authentication", status: .pass,
                            summary: "logged in as \(report.server?.currentUser ?? "?")\(dn)", detail: serverDetail))
        checks.append(.init(layer: .authorization, id: "authorization", status: .pass,
                            summary: "database \(report.target.dbname ?? "?") open"))
        return checks
    }

    static func tlsReport(_ tls: TLSSession) -> Report.TLSReport {
        Report.TLSReport(protocolVersion: tls.protocolVersion, cipher: tls.cipher,
                         serverCertificate: tls.serverCertificate.map(summary))
    }

    static func tlsReport(_ probe: TLSProbe.Result) -> Report.TLSReport {
        Report.TLSReport(protocolVersion: probe.protocolVersion, cipher: probe.cipher,
                         serverCertificate: probe.serverChain.first.map(summary), clientCANames: probe.clientCANames)
    }

    static func summary(_ certificate: CertificateInfo) -> Report.CertificateSummary {
        Report.CertificateSummary(subject: certificate.subject, issuer: certificate.issuer, san: certificate.subjectAlternativeNames,
                                  notAfter: certificate.notAfter.map(iso8601))
    }

    /// `2027-01-15T08:00:00Z` (ISO 8601, UTC).
    static func iso8601(_ date: Date) -> String { CertificateInfo.iso8601(date) }

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

    func warnings(_ connection: Connection, effective: ConnectionOptions, files: ClientFilesInspector.Result,
                  clientCANames: [String]) -> [Report.Warning] {
        var warnings: [Report.Warning] = []
        let mode = connection.effectiveOptions["sslmode"] ?? effective["sslmode"] ?? "prefer"
        if connection.tlsSession == nil, mode == "prefer" || mode == "allow" {
            warnings.append(.init(code: .plaintextFallback,
                                  summary: "sslmode=\(mode) connected without encryption: traffic, including any password, is readable on the network",
                                  fixes: ["Use sslmode=verify-full with sslrootcert pointing at the server's CA."]))
        } else if mode != "verify-full" {
            let rootLoaded = files.rootCertificate?.exists == true && !files.rootCertificates.isEmpty
            let what: String
            if mode == "verify-ca" {
                what = "sslmode=verify-ca checks the server's CA but not its name: any certificate from that CA can impersonate the server"
            } else if connection.tlsSession != nil, rootLoaded {
                what = "sslmode=\(mode) checks the server's chain only because \(files.rootCertificate?.path ?? "a root file") exists (libpq's rule), and never its name: a certificate for another host from that CA passes"
            } else {
                what = "sslmode=\(mode) does not verify the server's certificate: anyone on the network path can impersonate the server"
            }
            warnings.append(.init(code: .sslmodeUnverified, summary: what,
                                  fixes: ["Use sslmode=verify-full with sslrootcert pointing at the CA that signed the server certificate."]))
        }
        if let server = connection.tlsSession?.serverCertificate {
            if let notAfter = server.notAfter, notAfter.timeIntervalSinceNow < Double(expiryWarningDays) * 86400 {
                let days = Int(notAfter.timeIntervalSinceNow / 86400)
                warnings.append(.init(code: .serverCertExpiring,
                                      summary: "the server certificate expires in \(days) day\(days == 1 ? "" : "s") (\(Self.iso8601(notAfter)))",
                                      fixes: ["Renew the server certificate (ssl_cert_file) and reload the server: SELECT pg_reload_conf()"]))
            }
            if server.isCA {
                let signsClients = clientCANames.contains(server.subject)
                warnings.append(.init(code: .serverCertIsCA,
                                      summary: "the server certificate is itself a CA\(signsClients ? " and the server accepts client certificates it signed" : ""): whoever can read the server's key can mint certificates that \(signsClients ? "log in" : "this client trusts")",
                                      fixes: ["Issue the server certificate from a separate CA (scripts/make-pki.sh shows how) and trust only that CA."]))
            }
            if !server.subjectAlternativeNames.contains(where: { $0.hasPrefix("DNS:") || $0.hasPrefix("IP:") }) {
                warnings.append(.init(code: .serverCertCNOnly,
                                      summary: "the server certificate names its host only in the CN, with no subjectAltName",
                                      fixes: ["Reissue it with subjectAltName DNS:<host> (and IP:<address> if clients connect by address)."]))
            }
        }
        return warnings
    }
}
