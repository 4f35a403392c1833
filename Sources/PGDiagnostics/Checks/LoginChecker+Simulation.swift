#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

extension LoginChecker {
    /// Runs the pg_hba/pg_ident simulation for this login and folds it into the report: a
    /// check with the trace, and — when the login failed in authentication — the exact code,
    /// the pg_hba line and the map. Says so when the simulation and the real login disagree.
    func applySimulation(to report: inout Report, options: ConnectionOptions, files: ClientFilesInspector.Result,
                         failure: ConnectionError?, tlsUsed: Bool?) async {
        guard let authSource else { return }
        let effective = options.effective()
        let user = effective.user ?? ClientFilesInspector.currentUserName()
        let database = effective.dbname.flatMap { $0.isEmpty ? nil : $0 } ?? user
        let configuration = await AuthConfiguration.load(authSource, user: user, database: database,
                                                         timeout: min(timeout, .seconds(10)), logger: logger)
        for problem in configuration.problems {
            report.checks.append(.init(layer: .authentication, id: "server-configuration", status: .warn, summary: problem))
        }
        guard !configuration.hba.rules.isEmpty || !configuration.hba.errors.isEmpty else {
            report.checks.append(.init(layer: .authentication, id: "hba-simulation", status: .skip,
                                       summary: "not checked: no pg_hba.conf rules could be read"))
            return
        }

        let host = effective.host.first ?? "localhost"
        let unixSocket = host.hasPrefix("/")
        let address = clientAddress
            ?? (unixSocket ? nil : SourceAddress.toward(host: effective.hostaddr.first ?? host, port: effective.port.first ?? 5432))
            ?? "127.0.0.1"
        let ssl: Bool
        if let tlsUsed {
            ssl = tlsUsed
        } else if let attempt = failure.flatMap(FailureExplainer.decisiveAttempt) {
            ssl = attempt.primary.hasSuffix("no encryption") ? false
                : attempt.primary.hasSuffix("SSL encryption") ? true
                : effective["sslmode"] != "disable" && !unixSocket
        } else {
            ssl = effective["sslmode"] != "disable" && !unixSocket
        }
        let leaf = files.clientChain.first
        let request = HBASimulator.Request(connectionType: unixSocket ? .local : .tcp, ssl: ssl, clientAddress: address,
                                           database: database, user: user, roleMemberships: configuration.roleMemberships,
                                           certificateCommonName: leaf?.commonName, certificateDN: leaf?.subject,
                                           clientCertificatePresented: ssl && files.sendsCertificate)
        let outcome = HBASimulator(hba: configuration.hba, ident: configuration.ident).simulate(request)
        let hbaLine = outcome.rule.map { Report.HBALine(file: $0.file, line: $0.lineNumber, text: $0.text) }
        let refuses = Self.refusalCode(outcome.decision) != nil
        var trace = ["client address \(address)\(clientAddress == nil ? " (this machine's source address toward the server; --client-addr overrides)" : ""), \(ssl ? "SSL" : "no encryption"), database \(database), user \(user)"]
        trace += outcome.steps
        for error in configuration.serverErrors {
            trace.append("\(error.file):\(error.line): \(error.message) — the server refuses to load a file with such an error and keeps running with the previous version")
        }
        let lineText = hbaLine.map { " (\($0.file):\($0.line): \($0.text))" } ?? ""
        report.checks.append(.init(layer: .authentication, id: "hba-simulation", status: refuses ? .fail : .pass,
                                   summary: "\(configuration.origin): \(outcome.decision)\(lineText)",
                                   detail: trace.joined(separator: "\n")))

        let serverRefusedInAuthentication = report.diagnosis.map { $0.layer == .authentication } ?? false
        if report.ok || failure == nil {
            if refuses, report.ok {
                report.checks.append(.init(layer: .authentication, id: "simulation-disagrees", status: .warn,
                                           summary: "the simulation refuses this login but the server accepted it: the files given are not the ones the server runs, or it was not reloaded after they changed (SELECT pg_reload_conf())"))
            }
            if !report.ok, let code = Self.refusalCode(outcome.decision), report.diagnosis == nil {
                // --no-connect: the prediction is the diagnosis.
                report.diagnosis = diagnosis(for: outcome, code: code, hbaLine: hbaLine, address: address, user: user,
                                             database: database, trace: trace, libpqMessage: nil, sqlState: nil)
            }
            return
        }
        guard var current = report.diagnosis, serverRefusedInAuthentication else {
            report.diagnosis?.evidence.append("pg_hba.conf simulation: \(outcome.decision)\(lineText)")
            return
        }
        if let code = Self.refusalCode(outcome.decision) {
            var exact = diagnosis(for: outcome, code: code, hbaLine: hbaLine, address: address, user: user, database: database,
                                  trace: trace, libpqMessage: current.libpqMessage, sqlState: current.sqlState)
            if code == current.code || current.code == .unknown || Self.compatible(code, current.code) {
                exact.evidence = current.evidence.filter { $0.hasPrefix("attempt ") } + exact.evidence
            } else {
                exact.evidence.append("the server's message pointed to \(current.code.rawValue); the simulation is exact about the line it used")
            }
            report.diagnosis = exact
        } else {
            current.hbaLine = hbaLine
            current.identMap = outcome.rule?.map
            current.evidence += trace
            if case .accepted = outcome.decision {
                current.evidence.append("The simulation says \(hbaLine.map { "\($0.file) line \($0.line)" } ?? "the files") accept this login, yet the server refused it: the server runs other files than these, or was not reloaded after they changed (SELECT pg_reload_conf()).")
            }
            report.diagnosis = current
        }
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

    /// Codes that describe the same refusal from two angles.
    static func compatible(_ a: DiagnosisCode, _ b: DiagnosisCode) -> Bool {
        let names: Set<DiagnosisCode> = [.certNameMismatch, .identMapNoMatch]
        return names.contains(a) && names.contains(b)
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
