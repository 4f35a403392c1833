#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// Turns a failed login into one diagnosis: the layer, a stable code, the explanation, the
/// evidence it rests on and the fix.
///
/// It reads every attempt libpq made — with `sslmode=prefer` or `allow` the cause is in the
/// TLS attempt, before the plaintext retry — and combines libpq's words with what the client
/// can see for itself: the client files (``ClientFilesInspector``) and a TLS handshake of its
/// own (``TLSProbe``). What it cannot name exactly it reports as `unknown` in the right layer,
/// with libpq's message verbatim. A fix never lowers `sslmode` or turns verification off.
public struct FailureExplainer: Sendable {
    /// What was seen besides libpq's message.
    public struct Evidence: Sendable {
        public var files: ClientFilesInspector.Result?
        public var probe: TLSProbe.Result?
        public init(files: ClientFilesInspector.Result? = nil, probe: TLSProbe.Result? = nil) {
            self.files = files
            self.probe = probe
        }
    }

    public init() {}

    /// Whether a TLS probe would add evidence to this failure.
    public func wantsProbe(_ error: ConnectionError) -> Bool {
        guard error.phase == .tls || error.phase == .authentication else { return false }
        guard let recognition = Self.recognize(error) else { return error.phase == .tls }
        // libpq's refusal of its own files needs no handshake (and a probe would open them too).
        guard !recognition.message.stopsBeforeServer, recognition.about != .clientFiles else { return false }
        return recognition.about != .authorization && recognition.about != .network
            || ["libpq.eof", "libpq.closed", "libpq.ssl-refused"].contains(recognition.message.id)
    }

    /// libpq's message of the attempt that explains `error`, read through the knowledge base.
    static func recognize(_ error: ConnectionError) -> KnowledgeBase.Recognition? {
        recognizeClientMessage(decisiveAttempt(error)?.message ?? error.message)
    }

    /// libpq's recent messages, read: one failed check reads the same message in several places
    /// (the probe decision, the outcome, the diagnosis, the simulation).
    static let recognitions = ThreadLock<[String: KnowledgeBase.Recognition]>([:])

    /// `text` (libpq's, so the client's) read through the knowledge base, once per distinct text.
    static func recognizeClientMessage(_ text: String) -> KnowledgeBase.Recognition? {
        if let known = recognitions.withLock({ $0[text] }) { return known }
        let recognition = KnowledgeBase.recognize(text, loggedBy: .client)
        if let recognition {
            recognitions.withLock { cache in
                if cache.count >= 64 { cache.removeAll(keepingCapacity: true) }
                cache[text] = recognition
            }
        }
        return recognition
    }

    /// The TLS alert named in an OpenSSL reason (`tlsv1 alert unknown ca` → `unknown ca`).
    static func alert(in text: String) -> String? { TLSVocabulary.alertName(in: text) }

    /// The diagnosis for `error`, raised while connecting with `options`.
    public func diagnose(_ error: ConnectionError, options: ConnectionOptions, evidence: Evidence = .init()) -> Report.Diagnosis {
        var context = Context(error: error, options: options, effective: options.effective(), evidence: evidence)
        return context.diagnose()
    }

    /// The diagnosis for `error`, raised while connecting to a resolved login (nothing is resolved again).
    public func diagnose(_ error: ConnectionError, target: ResolvedTarget, evidence: Evidence = .init()) -> Report.Diagnosis {
        var context = Context(error: error, options: target.options, effective: target.effective, evidence: evidence)
        return context.diagnose()
    }

    /// The attempt that explains a failure: the one before a prefer/allow plaintext retry, else the last.
    static func decisiveAttempt(_ error: ConnectionError) -> ConnectionError.Attempt? {
        if error.attempts.count > 1, let last = error.attempts.last,
           ["no encryption", "ssl off"].contains(recognizeClientMessage(last.message)?.details.encryption ?? "") {
            return error.attempts[error.attempts.count - 2]
        }
        return error.attempts.last
    }

    /// The layer a connection phase belongs to.
    static func layer(for phase: ConnectionPhase) -> Layer {
        switch phase {
        case .options: .config
        case .connecting: .network
        case .tls: .tls
        case .authentication: .authentication
        case .startup, .query: .authorization
        }
    }

    /// The keyword of libpq's `invalid connection option "X"` / `invalid URI query parameter: "X"`.
    static func unknownKeyword(_ error: ConnectionError) -> String? {
        if error.code == .unknownKeyword, let start = error.message.firstIndex(of: "\"") {
            return String(error.message[error.message.index(after: start)...].prefix { $0 != "\"" })
        }
        for prefix in ["invalid connection option \"", "invalid URI query parameter: \""] where error.message.hasPrefix(prefix) {
            return String(error.message.dropFirst(prefix.count).prefix { $0 != "\"" })
        }
        return nil
    }
}

/// One diagnosis in the making.
private struct Context {
    let error: ConnectionError
    let options: ConnectionOptions
    let effective: ConnectionOptions
    let evidence: FailureExplainer.Evidence
    /// The attempt that explains the failure: the TLS attempt of a prefer/allow fallback, else the last.
    let attempt: ConnectionError.Attempt?
    /// That attempt's text (libpq's words).
    let text: String
    /// That text, read through the knowledge base (libpq is the client: an alert in it came from the server).
    let recognition: KnowledgeBase.Recognition?
    var recognised: String { recognition?.message.id ?? "" }
    var user: String { effective.user ?? "the requested user" }
    var host: String { effective.host.first ?? "localhost" }

    init(error: ConnectionError, options: ConnectionOptions, effective: ConnectionOptions, evidence: FailureExplainer.Evidence) {
        self.error = error
        self.options = options
        self.effective = effective
        self.evidence = evidence
        let decisive = FailureExplainer.decisiveAttempt(error)
        self.attempt = decisive
        self.text = decisive?.message ?? error.message
        self.recognition = FailureExplainer.recognizeClientMessage(text)
    }

    mutating func diagnose() -> Report.Diagnosis {
        if let keyword = FailureExplainer.unknownKeyword(error) {
            let linked = "libpq \(LibPQ.majorVersion)"
            if let introduced = KnowledgeBase.keywordsIntroduced[keyword] {
                return make(.unsupportedOption, .config, "\(keyword) needs libpq \(introduced); this program runs on \(linked)",
                            "libpq \(introduced) introduced the keyword \"\(keyword)\", and the libpq this program loads (\(linked)) refuses a connection string with a keyword it does not know: \(error.primaryMessage)",
                            fixes: ["Run with libpq \(introduced) or newer (the libpq the program loads, e.g. through LD_LIBRARY_PATH or a newer client package), or drop \(keyword)."])
            }
            var fixes: [String] = []
            if let suggestion = ConnectionOptions.closestKeyword(to: keyword) { fixes.append("Did you mean \(suggestion)? Correct the keyword.") }
            fixes.append("If \(keyword) is an option of a newer libpq, install a newer libpq or drop the option.")
            return make(.unsupportedOption, .config, "The linked libpq does not know the option \"\(keyword)\"",
                        "libpq refuses a connection string with a keyword it does not know: \(error.primaryMessage)", fixes: fixes)
        }
        switch error.code {
        case .invalidConninfo, .unknownKeyword, .invalidValue:
            return make(.invalidConninfo, .config, "The connection options cannot be parsed",
                        "libpq rejected the connection string before trying to connect: \(error.primaryMessage)",
                        fixes: ["Correct the connection string; quote values containing spaces or quotes as key='value' and escape \\ and ' inside quotes."])
        case .invalidOptions:
            if let recognition, recognition.message.id == "libpq.weak-sslmode", let cause = recognition.causes.first {
                return make(cause.code, cause.layer, "libpq refuses this sslmode with \(cause.id == "weak-sslmode-direct" ? "sslnegotiation=direct" : "sslrootcert=system")",
                            "\(cause.cause) libpq said: \(error.primaryMessage)", fixes: cause.fixes)
            }
            return make(.invalidConninfo, .config, "libpq refused an option value",
                        "libpq checks option values before any network I/O and refused one: \(error.primaryMessage)",
                        fixes: ["Correct the value named in the message (sslmode: disable, allow, prefer, require, verify-ca, verify-full)."])
        case .keyPassphraseRequired:
            return make(.keyEncrypted, .clientFiles, "The client key is encrypted and no passphrase was given",
                        "libpq needs the key's passphrase (sslpassword) to load an encrypted private key. pgconnect never lets OpenSSL prompt on the terminal, so the key could not be loaded.",
                        fixes: ["Give the passphrase with --sslpassword-file FILE (or sslpassword in the conninfo).",
                                "Or store the key unencrypted with mode 0600: openssl pkey -in KEY.enc -out KEY && chmod 600 KEY"])
        case .timeout, .overallTimeout:
            return make(.timeout, min(max(FailureExplainer.layer(for: error.phase), .network), .tls), "The server did not answer in time",
                        "The attempt was still \(error.phase.activity) when the time limit ran out. A firewall that drops packets, a wrong port that leads to a different service, or an overloaded server all look like this.",
                        fixes: ["Check that \(host) port \(effective["port"] ?? "5432") is the PostgreSQL server and reachable from here: pg_isready -h \(host) -p \(effective["port"] ?? "5432")",
                                "Raise --connect-timeout if the network is just slow."])
        default:
            break
        }
        if let network = networkDiagnosis() { return network }
        if let files = clientFileDiagnosis() { return files }
        if let tls = tlsDiagnosis() { return tls }
        if let authentication = authenticationDiagnosis() { return authentication }
        // Known to the knowledge base (a SQLSTATE alone is enough only when it names one cause).
        if let recognition, recognition.message.sqlStates.isEmpty || recognition.causes.count == 1, let cause = recognition.causes.first {
            // Known to the knowledge base, with no evidence that would say more: its first cause.
            var explanation = cause.cause
            if let reading = recognition.reading { explanation += " " + reading }
            if recognition.causes.count > 1 {
                explanation += " Could not rule out: " + recognition.causes.dropFirst().map(\.cause).joined(separator: " Or: ")
            }
            // A cause nobody can name yet stays in the layer the connection reached.
            return make(cause.code, cause.code == .unknown ? FailureExplainer.layer(for: error.phase) : cause.layer, String(recognition.message.meaning.dropLast(recognition.message.meaning.hasSuffix(".") ? 1 : 0)),
                        explanation, fixes: cause.fixes + ["Read the server's log for the same moment: \(cause.howToTell)"])
        }
        var layer = FailureExplainer.layer(for: error.phase)
        if let sqlState = attempt?.sqlState {
            // The server spoke: a missing database or privilege, or a role that does not exist,
            // is authorization; every other class-28 refusal is authentication.
            if sqlState == "3D000" || sqlState == "42501" || recognition?.about == .authorization {
                layer = .authorization
            } else if sqlState.hasPrefix("28") {
                layer = .authentication
            }
        }
        return make(.unknown, layer, "The connection failed in the \(layer.rawValue) layer",
                    "pgconnect does not recognise this failure yet. libpq reported: \(attempt?.primary ?? error.primaryMessage)",
                    fixes: ["Read the server's log for the same moment; it often says more than it tells the client."])
    }

    // MARK: network

    func networkDiagnosis() -> Report.Diagnosis? {
        let port = effective["port"] ?? "5432"
        if recognised == "libpq.unresolved" {
            return make(.hostUnresolved, .network, "The host name \(host) does not resolve",
                        "DNS (or /etc/hosts) has no address for \(host): \(attempt?.primary ?? "")",
                        fixes: ["Check the spelling of the host name and this machine's resolver: getent hosts \(host)",
                                "If the name is only known inside another network, use hostaddr=ADDRESS together with host=\(host) (the name stays in use for verify-full)."])
        }
        if recognised == "libpq.refused" {
            return make(.connectionRefused, .network, "Nothing is listening on \(host) port \(port)",
                        "The TCP connection was refused: no PostgreSQL server listens on that address and port, or a firewall rejects it.",
                        fixes: ["Check the port (SHOW port on the server) and listen_addresses in postgresql.conf.",
                                "Check that the server is running: pg_isready -h \(host) -p \(port)"])
        }
        if recognised == "libpq.ssl-refused" || evidence.probe?.sslResponse == "N" && recognition?.about != .authentication && recognition?.about != .authorization {
            return make(.sslNotSupported, .network, "The server does not accept TLS connections",
                        "The server answered PostgreSQL's SSLRequest with \"N\": ssl is off in its postgresql.conf (or a proxy in between does not pass TLS through). sslmode=\(effective["sslmode"] ?? "prefer") requires TLS, so libpq stopped.",
                        evidence: evidence.probe?.sslResponse.map { ["the server's answer to SSLRequest: \($0)"] } ?? [],
                        fixes: ["On the server: set ssl = on with ssl_cert_file, ssl_key_file (and ssl_ca_file for client certificates) in postgresql.conf, then SELECT pg_reload_conf();"])
        }
        return nil
    }

    // MARK: client files (libpq noticed before the pre-check did)

    func clientFileDiagnosis() -> Report.Diagnosis? {
        guard let recognition, recognition.message.stopsBeforeServer, let cause = recognition.causes.first else { return nil }
        return make(cause.code, .clientFiles, String(recognition.message.meaning.dropLast(recognition.message.meaning.hasSuffix(".") ? 1 : 0)),
                    "libpq refused its own files before the server was asked: \(attempt?.primary ?? ""). \(cause.cause)",
                    fixes: cause.fixes + ["Run pgconnect-check with the same options: it inspects each file and names the fix."])
    }

    // MARK: tls

    func tlsDiagnosis() -> Report.Diagnosis? {
        let probe = evidence.probe
        if recognised == "libpq.verify-failed" {
            return serverCertificateDiagnosis(probe)
        }
        if recognised == "libpq.host-mismatch" {
            return nameMismatchDiagnosis(probe)
        }
        let lost = recognised == "libpq.eof" || recognised == "libpq.closed"
        if lost, effective["sslnegotiation"] == "direct" {
            let cause = KnowledgeBase.cause("direct-ssl-old-server")
            return make(cause.code, cause.layer, "The server hung up on a direct TLS connection (sslnegotiation=direct)",
                        "\(cause.cause) libpq said: \(attempt?.primary ?? text)",
                        evidence: probe?.sslResponse.map { ["the server answers an SSLRequest with \($0)"] } ?? [], fixes: cause.fixes + [cause.howToTell])
        }
        if let alert = recognised == "libpq.alert" ? TLSVocabulary.alertName(in: text) : lost ? probe?.serverAlert.flatMap(TLSVocabulary.alertName(in:)) : nil {
            return alertDiagnosis(alert, probe)
        }
        if recognised == "libpq.protocol" || recognition?.details.alert == .protocolVersion {
            let minimum = effective["ssl_min_protocol_version"] ?? "TLSv1.2"
            let maximum = effective["ssl_max_protocol_version"].flatMap { $0.isEmpty ? nil : $0 } ?? "the newest OpenSSL knows"
            return make(.tlsVersionMismatch, .tls, "Client and server share no TLS protocol version",
                        "The client allows \(minimum) to \(maximum); the server's ssl_min_protocol_version/ssl_max_protocol_version allow none of them.",
                        evidence: [attempt?.primary ?? text],
                        fixes: ["Align the ranges: on the client ssl_min_protocol_version/ssl_max_protocol_version, on the server the settings of the same names (TLSv1.2 and TLSv1.3 are the safe choices).",
                                "Check the server's range: SHOW ssl_min_protocol_version; SHOW ssl_max_protocol_version;"])
        }
        return nil
    }

    func serverCertificateDiagnosis(_ probe: TLSProbe.Result?) -> Report.Diagnosis {
        let root = evidence.files?.rootCertificate?.path ?? effective.sslrootcert ?? "~/.postgresql/root.crt"
        var facts: [String] = []
        if let probe {
            for (i, certificate) in probe.serverChain.enumerated() {
                facts.append("the server sent [\(i)] \(certificate.subject), issued by \(certificate.issuer)\(certificate.notAfter.map { ", valid until \(LoginChecker.iso8601($0))" } ?? "")")
            }
            if let reason = probe.verifyReason, let code = probe.verifyCode, code != 0 {
                facts.append("OpenSSL: \(reason)\(probe.verifyErrorSubject.map { " (at depth \(probe.verifyErrorDepth ?? 0): \($0))" } ?? "")")
            }
        }
        if let roots = evidence.files?.rootCertificates, !roots.isEmpty {
            facts.append("\(root) holds: \(roots.map(\.subject).joined(separator: "; "))")
        }
        let mode = effective["sslmode"] ?? "prefer"
        let modeNote = mode == "require" || mode == "prefer" || mode == "allow"
            ? " (sslmode=\(mode) verifies the chain because the root certificate file exists: libpq's rule)" : ""
        let code = probe?.verifyCode ?? -1
        // X509_V_ERR_* values from OpenSSL's x509_vfy.h.
        switch code {
        case 10:
            let notAfter = probe?.serverChain.first?.notAfter.map(LoginChecker.iso8601) ?? "the past"
            return make(.serverCertExpired, .tls, "The server's certificate expired (\(notAfter))",
                        "libpq checked the server's certificate\(modeNote) and OpenSSL found it expired; libpq prints only \"certificate verify failed\".",
                        evidence: facts,
                        fixes: ["On the server: install a renewed certificate as ssl_cert_file (and its key as ssl_key_file), then SELECT pg_reload_conf();"])
        case 23:
            return make(.serverCertRevoked, .tls, "The server's certificate is revoked by your sslcrl",
                        "The CRL libpq loads (\(effective.sslcrl ?? "~/.postgresql/root.crl")) lists the server's certificate as revoked.",
                        evidence: facts,
                        fixes: ["The server needs a new certificate; if the revocation is a mistake, get an updated CRL from the CA."])
        case 3:
            return make(.serverCertUntrusted, .tls, "The server's certificate cannot be checked: a CRL is missing",
                        "A CRL file was loaded (\(effective.sslcrl ?? "~/.postgresql/root.crl")), so OpenSSL checks revocation for every CA in the chain, and the file has no CRL for one of them.",
                        evidence: facts,
                        fixes: ["Add the missing CA's CRL to the sslcrl file (concatenate the PEM CRLs), or name a directory of CRLs with sslcrldir."])
        default:
            if effective.sslrootcert == "system", LibPQRules.systemRootsSupported() {
                let cause = KnowledgeBase.cause("system-store-lacks-ca")
                let top = probe?.serverChain.last.map { " The server's chain ends at \($0.subject)\($0.isSelfSigned ? " (a private root)" : ""), issued by \($0.issuer)." } ?? ""
                return make(.serverCertUntrusted, .tls, "The server's certificate is not trusted by the system trust store (sslrootcert=system)",
                            cause.cause + top, evidence: facts,
                            fixes: cause.fixes + ["Compare what the server sends: openssl s_client -starttls postgres -connect \(host):\(effective["port"] ?? "5432") -showcerts </dev/null"])
            }
            let serverSentIntermediate = (probe?.serverChain.count ?? 0) > 1
            var explanation = "libpq could not verify the server's certificate chain against the CA certificates in \(root)\(modeNote); libpq prints only \"certificate verify failed\"."
            var fixes = ["Point sslrootcert at the CA that issued the server's certificate (the root of the chain above), e.g. a copy of the server's ssl_ca_file's root or the CA you used to sign ssl_cert_file."]
            if code == 19, let top = probe?.serverChain.last, top.isSelfSigned,
               let roots = evidence.files?.rootCertificates, !roots.contains(where: { $0.sha256Fingerprint == top.sha256Fingerprint }) {
                explanation += " The server's chain ends at the root \(top.subject), and \(root) holds a different CA (\(roots.map(\.subject).joined(separator: "; ")))."
                fixes[0] = "Point sslrootcert at a copy of the root \(top.subject) (check its fingerprint \(top.sha256Fingerprint.prefix(23))… out of band before trusting it)."
            } else if code == 9 {
                explanation = "The server's certificate is not valid yet: its start date is in the future (or a clock is wrong)."
                fixes = ["Check the clocks here and on the server (date -u); reissue the certificate if its start date is wrong."]
            } else if code == 20 || code == 2, !serverSentIntermediate, let issuer = probe?.serverChain.first?.issuer,
                      let roots = evidence.files?.rootCertificates, !roots.contains(where: { $0.subject == issuer }) {
                explanation += " The server sends only its own certificate, issued by \(issuer), and \(root) does not contain that issuer: either the server should also send its intermediate CA, or \(root) holds a different CA."
                fixes.append("If \(issuer) is an intermediate CA: on the server, make ssl_cert_file hold the server certificate followed by the intermediate, then SELECT pg_reload_conf();")
            }
            fixes.append("Compare what the server sends: openssl s_client -starttls postgres -connect \(host):\(effective["port"] ?? "5432") -showcerts </dev/null")
            return make(.serverCertUntrusted, .tls, "The server's certificate is not trusted by \(root)", explanation, evidence: facts, fixes: fixes)
        }
    }

    func nameMismatchDiagnosis(_ probe: TLSProbe.Result?) -> Report.Diagnosis {
        var facts: [String] = []
        var names: [String] = []
        if let leaf = probe?.serverChain.first {
            let outcome = HostnameMatcher.check(host: host, certificate: leaf)
            names = outcome.examined
            facts.append("the server's certificate: \(leaf.subject); subjectAltName: \(leaf.subjectAlternativeNames.isEmpty ? "none" : leaf.subjectAlternativeNames.joined(separator: ", "))")
            facts.append("libpq compared \"\(host)\" with: \(outcome.examined.joined(separator: ", "))\(outcome.usedCommonName ? " (the CN counts only because no SAN of the host's type exists)" : "")")
        }
        let isIP = HostnameMatcher.ipBytes(host) != nil
        var fixes: [String] = []
        if let name = names.first(where: { HostnameMatcher.ipBytes($0) == nil && !$0.hasPrefix("*") }) {
            fixes.append("Connect with a name the certificate carries: host=\(name)\(isIP ? " hostaddr=\(host)" : "")")
        }
        fixes.append("Or reissue the server certificate with subjectAltName = \(isIP ? "IP:\(host)" : "DNS:\(host)") (keep the existing names) and reload the server.")
        return make(.serverNameMismatch, .tls, "The server's certificate does not name \(host)",
                    "sslmode=verify-full checks that the certificate names the host you connect to. \(isIP ? "For an IP address libpq compares the certificate's IP SANs." : "For a host name libpq compares the DNS SANs, and the CN only when there are none.") \(attempt?.primary ?? "")",
                    evidence: facts, fixes: fixes)
    }

    func alertDiagnosis(_ alert: String, _ probe: TLSProbe.Result?) -> Report.Diagnosis {
        let files = evidence.files
        var facts: [String] = ["the server ended the handshake with the TLS alert \"\(alert)\""]
        if let leaf = files?.clientChain.first {
            facts.append("the client certificate: \(leaf.subject), issued by \(leaf.issuer)")
            facts.append("\(files?.certificate?.path ?? "the certificate file") holds \(files?.clientChain.count ?? 1) certificate\((files?.clientChain.count ?? 1) == 1 ? "" : "s")")
        }
        if let names = probe?.clientCANames, !names.isEmpty {
            facts.append("the server accepts client certificates issued by: \(names.joined(separator: "; "))")
        }
        switch TLSVocabulary.alert(in: "alert " + alert.lowercased()) {
        case .untrusted:
            return unknownCADiagnosis(facts: facts, probe: probe)
        case .revoked:
            return make(.clientCertRevoked, .tls, "The server rejects the client certificate as revoked",
                        "The server's CRL (ssl_crl_file or ssl_crl_dir) lists this certificate as revoked.",
                        evidence: facts,
                        fixes: ["Get a new client certificate for CN=\(files?.clientChain.first?.commonName ?? "…") from the CA and replace \(files?.certificate?.path ?? "the sslcert file")."])
        case .expired:
            return make(.clientCertExpired, .clientFiles, "The server rejects the client certificate as expired",
                        "The server's clock says the certificate is outside its validity period.",
                        evidence: facts, fixes: ["Issue a new client certificate; compare the server's clock with this machine's (date -u)."])
        case .protocolVersion:
            return make(.tlsVersionMismatch, .tls, "Client and server share no TLS protocol version",
                        "The server rejected the protocol version offered.", evidence: facts,
                        fixes: ["Align ssl_min_protocol_version/ssl_max_protocol_version on both sides (TLSv1.2 or TLSv1.3)."])
        default:
            let failure = TLSVocabulary.alert(in: "alert " + alert.lowercased())
            let leaf = files?.clientChain.first
            if failure == .wrongPurpose {
                return make(.clientCertWrongUsage, .clientFiles, "The server refuses the client certificate's purpose (\(alert))",
                            "The certificate's extendedKeyUsage lacks clientAuth (or its keyUsage forbids signing)\(leaf.map { ": it allows \($0.extendedKeyUsage.isEmpty ? "any purpose by EKU, so keyUsage decides" : $0.extendedKeyUsage.joined(separator: ", "))" } ?? "").",
                            evidence: facts, fixes: ["Reissue the certificate with extendedKeyUsage = clientAuth (and keyUsage digitalSignature)."])
            }
            if failure == .rejected, leaf?.notBefore.map({ $0 > Date() }) == true {
                // OpenSSL answers "bad certificate" for a certificate not valid yet (seen in the suite).
                return make(.clientCertNotYetValid, .clientFiles, "The server rejects the client certificate (\(alert)): most likely not valid yet",
                            "OpenSSL's server answers \"\(alert)\" for a client certificate whose validity starts in the future (or when a clock is wrong)\(leaf?.notBefore.map { "; this one starts \(LoginChecker.iso8601($0))" } ?? "").",
                            evidence: facts, fixes: ["Fix the clock (date -u here and on the server), or reissue the certificate."])
            }
            var explanation = "The server's OpenSSL refused the client certificate during the handshake with \"\(alert)\"."
            if failure == .certificateRequired || failure == .handshakeFailure, files?.sendsCertificate == false {
                explanation = "The server requires a client certificate in the TLS handshake and none was sent."
            }
            return make(.clientCertRejected, .tls, "The server rejects the client certificate (\(alert))", explanation,
                        evidence: facts,
                        fixes: ["Read the server log at that moment: since PostgreSQL 16 it says why (\"Client certificate verification failed at depth N: ...\").",
                                "Check the certificate: openssl x509 -noout -text -in \(files?.certificate?.path ?? "CERT") (validity, key usage, extended key usage clientAuth)."])
        }
    }

    func unknownCADiagnosis(facts: [String], probe: TLSProbe.Result?) -> Report.Diagnosis {
        let files = evidence.files
        let chain = files?.clientChain ?? []
        let accepted = Set(probe?.clientCANames ?? [])
        guard let top = chain.last else {
            return make(.clientCertUnknownCA, .tls, "The server does not know the CA of the client certificate",
                        "The server answered \"unknown ca\": its ssl_ca_file does not contain the CA that issued the client certificate.",
                        evidence: facts, fixes: ["Add the issuing CA to the server's ssl_ca_file and reload, or use a certificate from a CA it trusts."])
        }
        let reachesAccepted = chain.contains { accepted.contains($0.issuer) || accepted.contains($0.subject) }
        if reachesAccepted, !accepted.isEmpty {
            return make(.clientCertUnknownCA, .tls, "The server cannot complete the client certificate's chain",
                        "The chain in the certificate file reaches a CA the server accepts, yet the server answered \"unknown ca\". The usual cause is on the server: ssl_crl_file has no CRL for one CA of the chain (with a CRL configured, OpenSSL requires one for every CA), or its CA file lacks an intermediate.",
                        evidence: facts,
                        fixes: ["On the server: put a CRL for every CA of the chain (root and intermediates) into ssl_crl_file, or remove ssl_crl_file; then SELECT pg_reload_conf();",
                                "The server log (PostgreSQL 16+) names the failing depth: \"Client certificate verification failed at depth N\"."])
        }
        if let intermediate = Self.findIssuer(of: top, near: files?.certificate?.path, also: files?.rootCertificate?.path),
           accepted.isEmpty || accepted.contains(intermediate.issuer) || accepted.contains(intermediate.subject) {
            let certificatePath = files?.certificate?.path ?? "client.crt"
            return make(.clientCertChainIncomplete, .clientFiles, "The client certificate file lacks the intermediate CA",
                        "\(certificatePath) holds \(chain.count == 1 ? "only the leaf certificate" : "\(chain.count) certificates") and ends at \(top.subject), issued by the intermediate \(top.issuer). The server trusts only \(accepted.isEmpty ? "its root" : accepted.sorted().joined(separator: "; ")), so the client must send the intermediate too; without it the server answers \"unknown ca\".",
                        evidence: facts + ["the intermediate \(intermediate.subject) (issued by \(intermediate.issuer)) is in \(intermediate.path)"],
                        fixes: ["cat \(certificatePath) \(intermediate.path) > \(certificatePath.replacingScalars(".crt", with: "")).chain.crt and point sslcert at it (leaf first, then the intermediate)."])
        }
        return make(.clientCertUnknownCA, .tls, "The server does not trust the CA that issued the client certificate",
                    "The client certificate was issued by \(top.issuer), and the server's ssl_ca_file does not contain that CA\(accepted.isEmpty ? "" : " (it accepts: \(accepted.sorted().joined(separator: "; ")))"). Could not rule out: if \(top.issuer) is an intermediate under one of the accepted CAs, its certificate is missing from the client certificate file.",
                    evidence: facts,
                    fixes: ["Use a client certificate issued by a CA the server trusts, or add the certificate of the CA \(top.issuer) to the server's ssl_ca_file and SELECT pg_reload_conf();",
                            "If it is an intermediate: append its certificate to the sslcert file (leaf first)."])
    }

    /// A certificate whose subject is `certificate`'s issuer, in the files beside `path` or in `other`.
    static func findIssuer(of certificate: CertificateInfo, near path: String?, also other: String?) -> (subject: String, issuer: String, path: String)? {
        var candidates: [String] = []
        if let path {
            let directory = FilePath.deletingLastComponent(path)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
            for entry in entries.sorted().prefix(200) where [".crt", ".pem", ".cer"].contains(where: entry.hasSuffix) {
                candidates.append(directory.isEmpty ? entry : directory + "/" + entry)
            }
        }
        if let other { candidates.append(other) }
        for candidate in candidates where candidate != path {
            for found in PEMFile.certificates(atPath: candidate).certificates where found.subject == certificate.issuer && found.isCA {
                return (found.info.subject, found.info.issuer, candidate)
            }
        }
        return nil
    }

    // MARK: authentication (the messages the server sends verbatim)

    func authenticationDiagnosis() -> Report.Diagnosis? {
        guard let primary = attempt?.primary else { return nil }
        let files = evidence.files
        let leaf = files?.clientChain.first
        var facts: [String] = []
        if let leaf {
            facts.append("the client certificate: CN=\(leaf.commonName ?? "(none)"), DN (RFC 2253) \(leaf.subject)")
        }
        facts.append("the requested user: \(user), database: \(effective.dbname ?? user)")
        let database = effective.dbname ?? user
        let certificatePath = files?.certificate?.path ?? "CERT"
        let showNames = "Show the certificate's names: openssl x509 -noout -subject -nameopt RFC2253 -in \(certificatePath)"

        // Client-side: the server asked for a password libpq does not have.
        if recognised == "libpq.no-password" {
            return make(.passwordRequired, .authentication, "The server asks for a password, not (only) a certificate",
                        "The first pg_hba.conf line that matches this connection uses a password method (scram-sha-256, md5 or password), so the server asked for a password and none was given. A certificate alone logs in only where the line's method is cert.",
                        evidence: facts,
                        fixes: ["For certificate login, make the matching line use cert: hostssl \(database) \(user) <client-address>/32 cert — placed above broader lines, then SELECT pg_reload_conf();",
                                "Or supply the password (PGPASSWORD, ~/.pgpass, or password= in the connection string)."])
        }
        guard attempt?.sqlState != nil else { return nil }

        if recognised == "server.cert-auth-failed" {
            if let name = leaf?.commonName, name == user {
                return make(.identMapNoMatch, .authentication, "The certificate names \"\(user)\", yet the server refused it: a user-name map decides",
                            "The certificate's CN equals the requested user, so plain cert authentication would accept it. The pg_hba line must therefore use map= (or clientname=DN), and the pg_ident.conf map has no line that maps this certificate's \(leaf?.subject == nil ? "name" : "CN or DN") to \"\(user)\". Could not rule out: a map line exists but pg_ident.conf failed to load (one bad line makes the server keep the previous file) — check pg_ident_file_mappings.error.",
                            evidence: facts,
                            fixes: ["Add a map line, e.g. \"<map> \(name) \(user)\" (or the DN in double quotes with clientname=DN) to pg_ident.conf, then SELECT pg_reload_conf();",
                                    "Find the map and line: rerun with --hba/--ident (the server's files) or --admin (a superuser connection).",
                                    showNames])
            }
            return make(.certNameMismatch, .authentication, "The certificate's name does not give user \"\(user)\"",
                        "The TLS handshake and the certificate were fine; the server's cert method compared the certificate's name with the user and refused. Most likely the CN (\(leaf?.commonName ?? "unknown")) differs from \"\(user)\" and the line has no map. Could not rule out: the line uses map= and the map has no line for this certificate (ident-map-no-match) — without the server's pg_hba.conf/pg_ident.conf (--hba/--ident) or --admin the tool cannot tell which.",
                        evidence: facts,
                        fixes: ["Log in as the user the certificate names (user=\(leaf?.commonName ?? "CN")), or issue a certificate whose CN is \"\(user)\".",
                                "Or map it: a pg_ident.conf line \"certmap \(leaf?.commonName ?? "CN") \(user)\" and map=certmap on the pg_hba line, then SELECT pg_reload_conf();",
                                showNames])
        }
        if recognised == "server.verify-full-failed" {
            // `"trust" authentication failed`: only clientcert=verify-full can fail a trust line.
            return make(.certNameMismatch, .authentication, "clientcert=verify-full: the certificate's name does not give user \"\(user)\"",
                        "The matching pg_hba line (method \(primary.prefix { $0 != " " })) has clientcert=verify-full, which makes the server compare the certificate's CN (or DN with clientname=DN) with the user after the method itself succeeded. CN \(leaf?.commonName ?? "unknown") ≠ \"\(user)\".",
                        evidence: facts,
                        fixes: ["Log in as the certificate's user, or use a certificate whose CN is \"\(user)\".", showNames])
        }
        if recognised == "server.password-failed" {
            var explanation = "The matching pg_hba line uses a password method and the server refused the password."
            var fixes = ["Check the password (psql's \\password \(user) sets it); the server log says more (e.g. no password set, or \"Connection matched pg_hba.conf line N\")."]
            if let name = leaf?.commonName, name != user {
                explanation += " Could not rule out: with clientcert=verify-full on that line the server reports exactly this even for the right password when the certificate's CN (\(name)) is not \"\(user)\"."
                fixes.append("If the line has clientcert=verify-full: log in as \(name) or use a certificate whose CN is \"\(user)\".")
            }
            return make(.passwordFailed, .authentication, "The server refused the password for \"\(user)\"", explanation,
                        evidence: facts, fixes: fixes)
        }
        if recognised == "server.hba-no-entry" {
            let encryption = recognition?.details.encryption.map { $0 == "ssl off" ? "no encryption" : $0 == "gss encryption" ? "GSS encryption" : $0 == "no encryption" ? $0 : "SSL encryption" } ?? "SSL encryption"
            var explanation = "No pg_hba.conf line matches this connection (its type, database, user and address), so the server refuses it. \"\(encryption)\" is how the connection arrived: "
            explanation += encryption == "no encryption"
                ? "unencrypted, so hostssl lines cannot match it."
                : "over TLS, so host and hostssl lines can match, hostnossl lines cannot."
            if error.attempts.count > 1, encryption == "no encryption" {
                explanation += " This is the plaintext retry of sslmode=prefer/allow; the TLS attempt before it failed first (see the attempts)."
            }
            let mode = effective["sslmode"] ?? "prefer"
            var fixes = ["Add a line above the others that covers it, e.g.: hostssl \(database) \(user) <client-address>/32 cert — then SELECT pg_reload_conf();"]
            if encryption == "no encryption", mode == "disable" || mode == "allow" || mode == "prefer" {
                fixes.insert("Connect over TLS: sslmode=verify-full with sslrootcert (the server's lines are hostssl).", at: 0)
            }
            return make(.hbaNoEntry, .authentication, "No pg_hba.conf line matches this connection (\(encryption))", explanation,
                        evidence: facts, fixes: fixes)
        }
        if recognised == "server.hba-reject" {
            if recognition?.causes.first?.id == "hba-reject-plaintext" {
                return make(.hbaReject, .authentication, "A pg_hba.conf reject line refuses this unencrypted connection",
                            "The first pg_hba.conf line that matches (type, database \(database), user \(user), address) has the method reject, and the connection arrived without TLS: the server accepts only encrypted connections.",
                            evidence: facts,
                            fixes: ["Connect over TLS: sslmode=verify-full with sslrootcert (the server refuses plaintext on purpose).",
                                    "Find the line: rerun with --hba FILE (the server's pg_hba.conf) or --admin."])
            }
            return make(.hbaReject, .authentication, "A pg_hba.conf reject line matches this connection",
                        "The first pg_hba.conf line that matches (type, database \(database), user \(user), address) has the method reject; lines after it are never consulted.",
                        evidence: facts,
                        fixes: ["Put a line that allows this login (hostssl … cert) above the reject line, or narrow the reject line; then SELECT pg_reload_conf();",
                                "Find the line: rerun with --hba FILE (the server's pg_hba.conf) or --admin."])
        }
        if recognised == "server.no-ca" {
            return make(.serverNoCA, .authentication, "The server cannot check client certificates: it has no ssl_ca_file",
                        "The matching pg_hba line uses cert or clientcert, but the server has no root certificate store (ssl_ca_file is empty), so it cannot verify any client certificate and refuses the login.",
                        evidence: facts,
                        fixes: ["On the server: set ssl_ca_file to the CA that issues client certificates, then SELECT pg_reload_conf(); (check: SHOW ssl_ca_file;)"])
        }
        if recognised == "server.client-cert-required" {
            if let files, files.sendsCertificate, let probe = evidence.probe, probe.sslResponse == "S", probe.clientCANames.isEmpty {
                return make(.serverNoCA, .authentication, "The server never asks for a client certificate: it has no ssl_ca_file",
                            "A client certificate was ready to send, but the server's TLS handshake did not request one (it named no accepted CAs), so none was sent and the cert line refused the login. A server requests client certificates only when ssl_ca_file (or ssl_ca_file's equivalent) is set.",
                            evidence: facts + ["the server's certificate request named no CA"],
                            fixes: ["On the server: set ssl_ca_file to the CA that issues client certificates, then SELECT pg_reload_conf(); (check: SHOW ssl_ca_file;)"])
            }
            var explanation = "The pg_hba line for this connection uses cert (or clientcert=verify-ca/verify-full), and no client certificate arrived."
            if let files, !files.sendsCertificate {
                if let certificate = files.certificate {
                    explanation += " libpq sent none: \(certificate.named ? "the named sslcert file is missing" : "sslcert was not given and \(certificate.path) does not exist") — libpq does not report that."
                } else {
                    explanation += " libpq sent none: no sslcert was given."
                }
            }
            return make(.clientCertRequired, .authentication, "The server requires a client certificate and none was sent",
                        explanation, evidence: facts,
                        fixes: ["Name the certificate and key: sslcert=/path/client.crt sslkey=/path/client.key"])
        }
        if recognised == "server.role-missing" {
            return make(.roleMissing, .authorization, "The role \"\(user)\" does not exist",
                        "Authentication passed, but there is no role of that name on the server.",
                        evidence: facts,
                        fixes: ["Create it: CREATE ROLE \"\(user)\" LOGIN; — or log in as an existing role (the certificate's CN, or the map's target)."])
        }
        if recognised == "server.role-nologin" {
            return make(.roleCannotLogin, .authorization, "The role \"\(user)\" may not log in (NOLOGIN)",
                        "Authentication passed, but the role has NOLOGIN: it is a group role, not a login role.",
                        evidence: facts, fixes: ["ALTER ROLE \"\(user)\" LOGIN; — or log in as a member role."])
        }
        if recognised == "server.database-missing" {
            return make(.databaseMissing, .authorization, "The database \"\(database)\" does not exist",
                        "Authentication passed, but there is no database of that name (libpq's default database is the user name).",
                        evidence: facts,
                        fixes: ["Connect to an existing database (dbname=postgres), or create it: CREATE DATABASE \"\(database)\";"])
        }
        if recognised == "server.connect-denied" {
            return make(.connectDenied, .authorization, "The role \"\(user)\" may not connect to \"\(database)\"",
                        "Authentication passed, but the role lacks the CONNECT privilege on the database (\(attempt?.detail ?? "User does not have CONNECT privilege.")).",
                        evidence: facts,
                        fixes: ["GRANT CONNECT ON DATABASE \"\(database)\" TO \"\(user)\";"])
        }
        return nil
    }

    // MARK: helpers

    func make(_ code: DiagnosisCode, _ layer: Layer, _ summary: String, _ explanation: String,
              evidence extra: [String] = [], fixes: [String]) -> Report.Diagnosis {
        var evidence = extra
        if error.attempts.count > 1 {
            for (i, attempt) in error.attempts.enumerated() {
                evidence.append("attempt \(i + 1): \(attempt.target.map { $0 + ": " } ?? "")\(attempt.primary)")
            }
        }
        if let hint = error.hint, error.code == .keyPassphraseRequired { evidence.append(hint) }
        // pgconnect's own overall limit: its message is pgconnect's words, not libpq's.
        let isLibpqText = error.code != .overallTimeout
        if !isLibpqText { evidence.append(error.message) }
        return Report.Diagnosis(code: code, layer: layer, summary: summary, explanation: explanation, evidence: evidence,
                                fixes: fixes, libpqMessage: isLibpqText ? error.message.trimmingScalars(in: .whitespacesAndNewlines) : nil,
                                sqlState: attempt?.sqlState ?? error.sqlState)
    }
}

extension FailureExplainer {
    /// Whether libpq's connection ended without a PostgreSQL error (EOF in TLS, a closed socket).
    static func looksLikeLostConnection(_ error: ConnectionError) -> Bool {
        let id = recognize(error)?.message.id
        return id == "libpq.eof" || id == "libpq.closed"
    }

    /// Whether libpq stopped because of its own local files (or options), before the server
    /// could decide anything.
    static func isLocalRefusal(_ error: ConnectionError) -> Bool {
        if error.phase == .options || error.code == .keyPassphraseRequired { return true }
        return recognize(error)?.message.stopsBeforeServer ?? false
    }
}
