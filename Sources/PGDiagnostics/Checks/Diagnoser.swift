#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// The one place that turns a check's facts into its report: the outcome (from libpq's own
/// attempt), the diagnosis (libpq's failure explained with every piece of evidence), the
/// checks per layer, and the warnings. Stages only gather facts; renderers only format.
///
/// libpq first: the client-file inspection and the pg_hba simulation are predictions. When
/// libpq's attempt confirms a prediction, the prediction — the more precise account of the
/// same failure — is the diagnosis, with libpq's words attached. When libpq contradicts it
/// (it connected, or got past the point where the predicted failure would have stopped it, or
/// failed there for another reason), libpq's result wins and a `prediction-contradicted`
/// warning names the prediction that was wrong.
public struct Diagnoser: Sendable {
    public var expiryWarningDays: Int

    public init(expiryWarningDays: Int = 30) { self.expiryWarningDays = expiryWarningDays }

    public func report(_ facts: CheckFacts) -> Report {
        let target = facts.target
        var report = Report(outcome: .localSetup, target: Report.Target(
            host: target.effective["host"] ?? target.effective["hostaddr"], port: target.effective["port"],
            user: target.effective.user, dbname: target.effective.dbname, sslmode: target.effective["sslmode"],
            conninfo: target.options.redactedConninfo))
        let explainer = FailureExplainer()

        if let invalid = target.invalid {
            report.checks.append(.init(layer: .config, id: "options", status: .fail, summary: invalid.primaryMessage))
            report.diagnosis = explainer.diagnose(invalid, options: target.given)
            return report
        }
        report.checks.append(.init(layer: .config, id: "options", status: .pass,
                                   summary: "options accepted (sslmode=\(target.sslmode.rawValue))"))
        let files = facts.files ?? ClientFilesInspector.Result()
        let inspection = ClientFilesExplainer().explain(files)
        report.checks.append(contentsOf: inspection.checks)
        report.warnings.append(contentsOf: inspection.warnings)
        if let keyLog = target.effective["sslkeylogfile"], !keyLog.isEmpty {
            // libpq 18 appends each TLS session's secrets to this file (NSS key log format).
            report.warnings.append(.init(code: .tlsKeysLogged,
                                         summary: "sslkeylogfile=\(keyLog): libpq writes this connection's TLS secrets there; anyone who can read that file can decrypt the captured traffic",
                                         fixes: ["Remove sslkeylogfile outside a debugging session, and delete \(keyLog)."]))
        }
        let prediction = inspection.diagnosis

        switch facts.attempt {
        case nil:
            report.outcome = .notAttempted
            report.diagnosis = prediction
            report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: nil, reason: "--no-connect"))
            fold(facts.simulation, into: &report, failure: nil, attempted: false)

        case .notMade(let reason)?:
            report.outcome = .localSetup
            var diagnosis = prediction ?? Report.Diagnosis(
                code: .fileUnreadable, layer: .clientFiles, summary: "A file libpq would use cannot be used",
                explanation: reason, fixes: ["Name regular files this OS user can read for sslcert, sslkey, sslrootcert and sslcrl."])
            diagnosis.evidence.append(reason)
            report.diagnosis = diagnosis
            report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: nil, reason: "libpq's attempt was not made"))

        case .connected(let connected)?:
            report.outcome = .connected
            report.timingsMilliseconds = connected.timings
            if let tls = connected.tls { report.tls = Self.tlsReport(tls) }
            // Unknown (nil), not "none asked for", when libpq's session could not be read.
            report.tls?.clientCANames = connected.tls.flatMap { $0.peerDetailsUnavailable == nil ? $0.clientCANames : nil }
            report.server = connected.server
            report.checks.append(contentsOf: Self.successChecks(connected, target: report.target))
            report.warnings.append(contentsOf: warnings(connected, files: files, clientCANames: report.tls?.clientCANames ?? []))
            if let prediction {
                contradicted(prediction, by: "libpq connected", in: &report)
            }
            fold(facts.simulation, into: &report, failure: nil, attempted: true)
            if !report.warnings.isEmpty {
                report.checks.append(.init(layer: .session, id: "session-risks", status: .warn,
                                           summary: "\(report.warnings.count) warning\(report.warnings.count == 1 ? "" : "s") about this login"))
            }

        case .failed(let error, let probe)?:
            let stop = Self.stop(error)
            report.outcome = stop.outcome
            let explained = explainer.diagnose(error, target: target, evidence: .init(files: files, probe: probe))
            report.diagnosis = reconcile(prediction, with: explained, error: error, files: files, stop: stop, report: &report)
            if stop.outcome == .localSetup {
                report.checks.append(.init(layer: stop.layer, id: stop.layer == .config ? "options-libpq" : "client-files-libpq",
                                           status: .fail, summary: "libpq refused: \(error.primaryMessage)"))
                report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: nil,
                                                                  reason: "libpq stopped at its own files"))
            } else {
                let diagnosis = report.diagnosis
                if let diagnosis, diagnosis.layer == .clientFiles, !report.checks.contains(where: { $0.status == .fail }) {
                    // A client-file cause the server's answer revealed (e.g. "unknown ca" for a missing intermediate).
                    report.checks.append(.init(layer: .clientFiles, id: "client-files-libpq", status: .fail, summary: diagnosis.summary))
                }
                // The layer where libpq stopped: the diagnosis when it is about that layer, else libpq's words.
                let summary = diagnosis?.layer == stop.layer ? diagnosis?.summary ?? error.primaryMessage : error.primaryMessage
                report.checks.append(contentsOf: Self.layerChecks(after: .clientFiles, failedAt: stop.layer, summary: summary))
            }
            if let probe, !probe.serverChain.isEmpty { report.tls = Self.tlsReport(probe) }
            fold(facts.simulation, into: &report, failure: error, attempted: true)
        }
        return report
    }

    // MARK: Where libpq stopped

    /// Where libpq's attempt stopped, and so the outcome: libpq's own refusal of its options or
    /// files, the server's refusal (it sent an error), or no usable connection.
    public static func stop(_ error: ConnectionError) -> (outcome: Report.Outcome, layer: Layer) {
        switch error.code {
        case .invalidConninfo, .unknownKeyword, .invalidValue, .invalidOptions: return (.localSetup, .config)
        default: break
        }
        if FailureExplainer.isLocalRefusal(error) { return (.localSetup, error.phase == .options ? .config : .clientFiles) }
        let attempt = FailureExplainer.decisiveAttempt(error)
        let recognition = FailureExplainer.recognize(error)
        if let sqlState = attempt?.sqlState ?? error.sqlState {
            if sqlState == "3D000" || sqlState == "42501" || recognition?.about == .authorization {
                return (.refused, .authorization)
            }
            if sqlState.hasPrefix("28") { return (.refused, .authentication) }
            return (.refused, max(FailureExplainer.layer(for: error.phase), .authentication))
        }
        if error.code == .timeout { return (.unreachable, min(max(FailureExplainer.layer(for: error.phase), .network), .tls)) }
        // libpq's own policy (sslcertmode, require_auth) refused what the server accepted.
        if recognition?.message.id == "libpq.sslcertmode" || recognition?.message.id == "libpq.require-auth" { return (.refused, .authentication) }
        // A TLS alert or verify failure, also when TLS 1.3 delivers it while libpq waits for authentication.
        switch recognition?.about {
        case .serverCertificate?, .clientCertificate?, .negotiation?: return (.unreachable, .tls)
        default: break
        }
        if recognition?.message.id == "libpq.ssl-refused" { return (.unreachable, .network) }
        if FailureExplainer.looksLikeLostConnection(error) { return (.unreachable, .tls) }
        switch error.phase {
        case .options: return (.localSetup, .config)
        case .connecting: return (.unreachable, .network)
        case .tls: return (.unreachable, .tls)
        case .authentication:
            // The server asked for something libpq cannot give (a password), or hung up.
            return (.refused, .authentication)
        case .startup, .query: return (.refused, .authorization)
        }
    }

    // MARK: Predictions against libpq

    /// Codes that libpq's failure may show for a predicted cause: the server reports a missing or
    /// bad client certificate in its own terms.
    static let confirmations: [DiagnosisCode: Set<DiagnosisCode>] = [
        .certFileMissing: [.clientCertRequired, .clientCertRejected, .certNameMismatch],
        .clientCertExpired: [.clientCertRejected],
        .clientCertNotYetValid: [.clientCertRejected, .clientCertExpired],
        .clientCertWrongUsage: [.clientCertRejected],
        .clientCertChainIncomplete: [.clientCertUnknownCA],
        .fileUnreadable: [.certUnparsable],
        .certUnparsable: [.fileUnreadable],
        .certNameMismatch: [.identMapNoMatch],
        .identMapNoMatch: [.certNameMismatch],
    ]

    static func confirms(_ explained: DiagnosisCode, _ predicted: DiagnosisCode) -> Bool {
        explained == predicted || confirmations[predicted]?.contains(explained) == true
    }

    /// The diagnosis of a failed attempt, given what the files predicted.
    func reconcile(_ prediction: Report.Diagnosis?, with explained: Report.Diagnosis, error: ConnectionError,
                   files: ClientFilesInspector.Result, stop: (outcome: Report.Outcome, layer: Layer), report: inout Report) -> Report.Diagnosis {
        guard var prediction else { return explained }
        if Self.confirms(explained.code, prediction.code), !Self.pathDiffers(prediction, files: files, libpq: error) {
            // libpq's words with the prediction's precise account.
            prediction.libpqMessage = explained.libpqMessage
            prediction.sqlState = explained.sqlState
            prediction.evidence += explained.evidence.filter { $0.hasPrefix("attempt ") }
            return prediction
        }
        if stop.layer == .network {
            // libpq never got to the files: the prediction stays a finding, untested.
            var diagnosis = explained
            diagnosis.evidence.append("not reached by libpq: the local files also predict \(prediction.code.rawValue) — \(prediction.summary)")
            return diagnosis
        }
        contradicted(prediction, by: "libpq failed differently: \(explained.code.rawValue) in the \(stop.layer.rawValue) layer", in: &report)
        return explained
    }

    /// libpq named a different file than the prediction did (it names the root certificate it looked for).
    static func pathDiffers(_ prediction: Report.Diagnosis, files: ClientFilesInspector.Result, libpq error: ConnectionError) -> Bool {
        guard prediction.code == .rootCertMissing, let libpqPath = rootCertificatePath(in: error.message) else { return false }
        return files.rootCertificate?.path != libpqPath
    }

    /// The path in libpq's `root certificate file "…" does not exist`.
    static func rootCertificatePath(in message: String) -> String? {
        guard let start = message.firstScalarRange(of: "root certificate file \"") else { return nil }
        let rest = message[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    /// Records that libpq contradicted a prediction: a warning with its own code, and the
    /// prediction's failed check marked as such.
    func contradicted(_ prediction: Report.Diagnosis, by what: String, in report: inout Report) {
        report.warnings.append(.init(
            code: .predictionContradicted,
            summary: "pgconnect predicted \(prediction.code.rawValue) (\(prediction.summary)), but \(what): the prediction was wrong and libpq's result stands",
            fixes: ["Please report this with the JSON output (pgconnect-check --format json): a prediction libpq contradicts is a bug in pgconnect."]))
        for index in report.checks.indices where report.checks[index].status == .fail && report.checks[index].layer == prediction.layer {
            report.checks[index].status = .warn
            report.checks[index].summary += " (predicted failure; \(what))"
        }
    }

    // MARK: The simulation

    /// Folds the pg_hba/pg_ident simulation into the report: a check with the trace; the exact
    /// code, line and map when the server refused in authentication (or, without an attempt, as
    /// the prediction); the deciding line and map on any diagnosis the simulation decided.
    func fold(_ simulation: SimulationFacts?, into report: inout Report, failure: ConnectionError?, attempted: Bool) {
        guard let simulation else { return }
        for problem in simulation.configuration.problems {
            report.checks.append(.init(layer: .authentication, id: "server-configuration", status: .warn, summary: problem))
        }
        guard let outcome = simulation.outcome, let address = simulation.address else {
            report.checks.append(.init(layer: .authentication, id: "hba-simulation", status: .skip,
                                       summary: "not checked: no pg_hba.conf rules could be read"))
            return
        }
        let user = simulation.user, database = simulation.database
        let hbaLine = outcome.rule.map { Report.HBALine(file: $0.file, line: $0.lineNumber, text: $0.text) }
        let refusal = Self.refusalCode(outcome.decision)
        let found = simulation.addressGiven ? "" : " (this machine's source address toward the server; --client-addr overrides)"
        var trace = ["client address \(address)\(found), \(simulation.ssl == true ? "SSL" : "no encryption"), database \(database), user \(user)"]
        trace += outcome.steps
        for error in simulation.configuration.serverErrors {
            trace.append("\(error.file):\(error.line): \(error.message) — the server refuses to load a file with such an error and keeps running with the previous version")
        }
        let lineText = hbaLine.map { " (\($0.file):\($0.line): \($0.text))" } ?? ""
        report.checks.append(.init(layer: .authentication, id: "hba-simulation", status: refusal != nil ? .fail : .pass,
                                   summary: "\(simulation.configuration.origin): \(outcome.decision)\(lineText)",
                                   detail: trace.joined(separator: "\n")))

        if !attempted {
            if report.diagnosis == nil, let refusal {
                report.diagnosis = diagnosis(for: outcome, code: refusal, hbaLine: hbaLine, address: address, user: user,
                                             database: database, trace: trace, libpqMessage: nil, sqlState: nil)
            }
            return
        }
        if report.ok {
            if refusal != nil {
                report.checks.append(.init(layer: .authentication, id: "simulation-disagrees", status: .warn,
                                           summary: "the simulation refuses this login but the server accepted it: the files given are not the ones the server runs, or it was not reloaded after they changed (SELECT pg_reload_conf())"))
            }
            return
        }
        guard var current = report.diagnosis else { return }
        let decided = outcome.rule != nil
        if current.layer == .authentication, failure != nil, let refusal {
            var exact = diagnosis(for: outcome, code: refusal, hbaLine: hbaLine, address: address, user: user, database: database,
                                  trace: trace, libpqMessage: current.libpqMessage, sqlState: current.sqlState)
            if Self.confirms(refusal, current.code) || current.code == .unknown {
                exact.evidence = current.evidence.filter { $0.hasPrefix("attempt ") } + exact.evidence
            } else {
                exact.evidence.append("the server's message pointed to \(current.code.rawValue); the simulation is exact about the line it used")
            }
            report.diagnosis = exact
            return
        }
        // Any other diagnosis: the simulation's deciding line and map belong to it all the same.
        if decided {
            current.hbaLine = current.hbaLine ?? hbaLine
            current.identMap = current.identMap ?? outcome.rule?.map
        }
        if current.layer == .authentication {
            current.evidence += trace
            if case .accepted = outcome.decision {
                current.evidence.append("The simulation says \(hbaLine.map { "\($0.file) line \($0.line)" } ?? "the files") accept this login, yet the server refused it: the server runs other files than these, or was not reloaded after they changed (SELECT pg_reload_conf()).")
            }
        } else {
            current.evidence.append("pg_hba.conf simulation: \(outcome.decision)\(lineText)")
        }
        report.diagnosis = current
    }

    /// The diagnosis code for a simulated refusal; nil when the simulation lets the login through or cannot tell.
    static func refusalCode(_ decision: HBASimulator.Decision) -> DiagnosisCode? {
        switch decision {
        case .noEntry: .hbaNoEntry
        case .reject: .hbaReject
        case .clientCertificateRequired: .clientCertRequired
        case .certificateNameMismatch: .certNameMismatch
        case .identMapNoMatch, .unknownMap: .identMapNoMatch
        case .accepted, .passwordRequired, .undecidable: nil
        }
    }

    func diagnosis(for outcome: HBASimulator.Outcome, code: DiagnosisCode, hbaLine: Report.HBALine?, address: String, user: String,
                   database: String, trace: [String], libpqMessage: String?, sqlState: String?) -> Report.Diagnosis {
        let line = hbaLine.map { "\($0.file) line \($0.line) (\($0.text))" } ?? "pg_hba.conf"
        let prefixLength = address.contains(":") ? 128 : 32
        var summary: String
        var explanation: String
        var fixes: [String]
        var identMap: String?
        switch outcome.decision {
        case .noEntry:
            summary = "No pg_hba.conf line matches this connection"
            explanation = "The simulation went through every line and none matches the connection type, database \(database), user \(user) and client address \(address) (the trace shows why each line was skipped)."
            fixes = ["Add above the broader lines: hostssl \(database) \(user) \(address)/\(prefixLength) cert — then SELECT pg_reload_conf();"]
        case .reject:
            summary = "\(line) rejects this connection"
            explanation = "It is the first line that matches, and its method is reject."
            fixes = ["Put a line that allows this login above \(hbaLine.map { "line \($0.line)" } ?? "it"), or narrow the reject line; then SELECT pg_reload_conf();"]
        case .clientCertificateRequired:
            summary = "\(line) requires a client certificate and none is sent"
            explanation = "The matching line uses cert or clientcert=…; the client sends no certificate."
            fixes = ["Name sslcert and sslkey."]
        case .certificateNameMismatch(let identity, _):
            summary = "\(line) compares the certificate's name \"\(identity)\" with user \"\(user)\": they differ"
            explanation = "The matching line\(outcome.rule?.method == "cert" ? " uses cert without map=" : " has clientcert=verify-full"), so the certificate's \(outcome.rule?.clientName == "DN" ? "DN" : "CN") must equal the user name exactly (case-sensitive)."
            fixes = ["Log in as \"\(identity)\", or use a certificate whose \(outcome.rule?.clientName == "DN" ? "DN" : "CN") is \"\(user)\".",
                     "Or add map=certmap to \(hbaLine.map { "line \($0.line)" } ?? "the line") and the pg_ident.conf line: certmap \(Self.identToken(identity)) \(user)"]
        case .identMapNoMatch(let map, let identity, _):
            identMap = map
            summary = "Map \"\(map)\" has no line that maps \"\(identity)\" to \"\(user)\""
            explanation = "\(line) uses map=\(map): the server looks in pg_ident.conf for a line of that map whose system-user column matches the certificate's \(outcome.rule?.clientName == "DN" ? "DN" : "CN") \"\(identity)\" and whose user column gives \"\(user)\"; none does."
            fixes = ["Add to pg_ident.conf: \(map) \(Self.identToken(identity)) \(user) — then SELECT pg_reload_conf();"]
        case .unknownMap(let map):
            identMap = map
            summary = "Map \"\(map)\" named on \(line) has no lines in pg_ident.conf"
            explanation = "The map name on the pg_hba line has no lines at all (a typo in the name, or pg_ident.conf failed to load)."
            fixes = ["Add lines for map \(map) to pg_ident.conf, or correct map= on the pg_hba line; then SELECT pg_reload_conf();"]
        default:
            summary = "\(outcome.decision)"
            explanation = "See the trace."
            fixes = []
        }
        if outcome.rule?.map != nil { identMap = identMap ?? outcome.rule?.map }
        return Report.Diagnosis(code: code, layer: .authentication, summary: summary, explanation: explanation, evidence: trace,
                                fixes: fixes, libpqMessage: libpqMessage, sqlState: sqlState, hbaLine: hbaLine, identMap: identMap)
    }

    /// A pg_ident.conf system-user token: quoted when it holds a comma, space or quote (a DN).
    static func identToken(_ identity: String) -> String {
        identity.contains(where: { $0 == "," || $0 == " " || $0 == "\"" || $0 == "#" })
            ? "\"" + identity.replacingScalars("\"", with: "\"\"") + "\"" : identity
    }
}

extension Diagnoser {
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

    static func successChecks(_ connected: ConnectedFacts, target: Report.Target) -> [Report.Check] {
        var checks: [Report.Check] = []
        checks.append(.init(layer: .network, id: "tcp-connect", status: .pass,
                            summary: "connected to \(target.host ?? "?") port \(target.port ?? "?")"))
        if let tls = connected.tls {
            let server = tls.serverCertificate.map { " · server certificate \($0.subject)" } ?? ""
            checks.append(.init(layer: .tls, id: "tls-handshake", status: .pass,
                                summary: "\(tls.protocolVersion ?? "TLS") \(tls.cipher ?? "")\(server)",
                                detail: tls.peerDetailsUnavailable))
        } else {
            checks.append(.init(layer: .tls, id: "tls-handshake", status: .warn, summary: "no TLS: the connection is not encrypted"))
        }
        let dn = connected.server.clientDN.map { " with client certificate \($0)" } ?? " without a client certificate"
        checks.append(.init(layer: .authentication, id: "authentication", status: .pass,
                            summary: "logged in as \(connected.server.currentUser ?? "?")\(dn)", detail: connected.serverDetail))
        checks.append(.init(layer: .authorization, id: "authorization", status: .pass,
                            summary: "database \(target.dbname ?? "?") open"))
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
                                  notAfter: certificate.notAfter.map(LoginChecker.iso8601))
    }

    /// Risks in a login that worked.
    func warnings(_ connected: ConnectedFacts, files: ClientFilesInspector.Result, clientCANames: [String]) -> [Report.Warning] {
        var warnings: [Report.Warning] = []
        let mode = connected.sslmode
        if connected.tls == nil, mode == .prefer || mode == .allow {
            warnings.append(.init(code: .plaintextFallback,
                                  summary: "sslmode=\(mode.rawValue) connected without encryption: traffic, including any password, is readable on the network",
                                  fixes: ["Use sslmode=verify-full with sslrootcert pointing at the server's CA."]))
        } else if mode != .verifyFull {
            let rootLoaded = files.rootCertificate?.exists == true && !files.rootCertificates.isEmpty
            let what: String
            if mode == .verifyCA {
                what = "sslmode=verify-ca checks the server's CA but not its name: any certificate from that CA can impersonate the server"
            } else if connected.tls != nil, rootLoaded {
                what = "sslmode=\(mode.rawValue) checks the server's chain only because \(files.rootCertificate?.path ?? "a root file") exists (libpq's rule), and never its name: a certificate for another host from that CA passes"
            } else {
                what = "sslmode=\(mode.rawValue) does not verify the server's certificate: anyone on the network path can impersonate the server"
            }
            warnings.append(.init(code: .sslmodeUnverified, summary: what,
                                  fixes: ["Use sslmode=verify-full with sslrootcert pointing at the CA that signed the server certificate."]))
        }
        if let server = connected.tls?.serverCertificate {
            if let notAfter = server.notAfter, notAfter.timeIntervalSinceNow < Double(expiryWarningDays) * 86400 {
                let days = Int(notAfter.timeIntervalSinceNow / 86400)
                warnings.append(.init(code: .serverCertExpiring,
                                      summary: "the server certificate expires in \(days) day\(days == 1 ? "" : "s") (\(LoginChecker.iso8601(notAfter)))",
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

extension LoginChecker {
    /// `2027-01-15T08:00:00Z` (ISO 8601, UTC).
    static func iso8601(_ date: Date) -> String { CertificateInfo.iso8601(date) }
}
