import PGConnect

/// Turns a failed connection into a diagnosis: which layer failed, and — where libpq's words
/// and the SQLSTATE say it exactly — why.
///
/// It reads every attempt libpq made (not just the last line: `sslmode=prefer` retries in
/// plaintext after a TLS failure and the last line then hides the real cause). What it cannot
/// name exactly it reports as `unknown` in the right layer, with libpq's message kept verbatim.
public struct FailureClassifier: Sendable {
    public init() {}

    /// The diagnosis for `error`, raised while connecting with `options`.
    public func diagnose(_ error: ConnectionError, options: ConnectionOptions) -> Report.Diagnosis {
        let attempt = decisiveAttempt(error)
        let text = attempt?.message ?? error.message
        let user = options.effective().user ?? "the requested user"

        if let keyword = unknownKeyword(error) {
            var fixes: [String] = []
            if let suggestion = ConnectionOptions.closestKeyword(to: keyword) { fixes.append("Did you mean \(suggestion)? Correct the keyword.") }
            fixes.append("If \(keyword) is an option of a newer libpq (e.g. sslcertmode and require_auth need libpq 16), install a newer libpq or drop the option.")
            return diagnosis(.unsupportedOption, .config, error,
                             summary: "The linked libpq does not know the option \"\(keyword)\"",
                             explanation: "libpq refuses a connection string with a keyword it does not know: \(error.primaryMessage)",
                             fixes: fixes)
        }
        switch error.code {
        case .invalidConninfo, .unknownKeyword, .invalidValue:
            return diagnosis(.invalidConninfo, .config, error,
                             summary: "The connection options cannot be parsed",
                             explanation: "libpq rejected the connection string before trying to connect: \(error.primaryMessage)",
                             fixes: ["Correct the connection string; quote values containing spaces or quotes as key='value' and escape \\ and ' inside quotes."])
        case .invalidOptions:
            return diagnosis(.invalidConninfo, .config, error,
                             summary: "libpq refused an option value",
                             explanation: "libpq checks option values before any network I/O and refused one: \(error.primaryMessage)",
                             fixes: ["Correct the value named in the message."])
        case .keyPassphraseRequired:
            return diagnosis(.keyEncrypted, .clientFiles, error,
                             summary: "The client key is encrypted and no passphrase was given",
                             explanation: "libpq needs the key's passphrase (sslpassword) to load an encrypted private key. pgconnect never lets OpenSSL prompt on the terminal, so the key could not be loaded.",
                             fixes: ["Give the passphrase with --sslpassword-file FILE (or sslpassword in the conninfo).",
                                     "Or store the key unencrypted with mode 0600: openssl pkey -in KEY.enc -out KEY && chmod 600 KEY"])
        case .timeout:
            return diagnosis(.timeout, error.phase == .connecting ? .network : layer(for: error.phase), error,
                             summary: "The server did not answer in time",
                             explanation: "The attempt was still \(error.phase.rawValue) when the time limit ran out.",
                             fixes: ["Check that the host and port are right and reachable from here (firewall, security group).",
                                     "Raise --connect-timeout if the network is just slow."])
        default:
            break
        }

        if text.contains("Connection refused") {
            return diagnosis(.connectionRefused, .network, error,
                             summary: "Nothing is listening on that host and port",
                             explanation: "The TCP connection was refused: no PostgreSQL server listens on the address and port tried, or a firewall rejects it.",
                             fixes: ["Check the port (SHOW port on the server) and listen_addresses in postgresql.conf.",
                                     "Check that the server is running: pg_isready -h HOST -p PORT"])
        }
        if text.contains("certificate verify failed") {
            return diagnosis(.serverCertUntrusted, .tls, error,
                             summary: "The server's certificate is not trusted by sslrootcert",
                             explanation: "libpq could not verify the server's certificate chain against the CA certificates in sslrootcert (\(options.effective().sslrootcert ?? "~/.postgresql/root.crt")). libpq does not say why; the usual causes are a root file holding a different CA, a missing intermediate, or an expired server certificate.",
                             fixes: ["Point sslrootcert at the CA that signed the server certificate (the server's ssl_ca_file or the CA that issued ssl_cert_file).",
                                     "Compare: openssl s_client -starttls postgres -connect HOST:PORT -showcerts"])
        }
        if let sqlState = attempt?.sqlState ?? error.sqlState {
            if text.contains("certificate authentication failed for user") {
                return diagnosis(.certNameMismatch, .authentication, error,
                                 summary: "The server did not accept the certificate's name for user \"\(user)\"",
                                 explanation: "The certificate was valid, but the server's cert check maps its CN (or DN) to a user name and that did not give \"\(user)\": either the CN differs from the user and there is no map, or the pg_ident.conf map has no line for it. Without the server's pg_hba.conf/pg_ident.conf this tool cannot tell which.",
                                 fixes: ["Log in as the user named by the certificate's CN, or issue a certificate whose CN is \"\(user)\".",
                                         "Or add a pg_ident.conf line mapping the certificate's CN to \"\(user)\" and use map=NAME on the pg_hba line, then reload the server."])
            }
            let layer: Layer = sqlState == "3D000" || sqlState == "42501" ? .authorization : .authentication
            return diagnosis(.unknown, layer, error,
                             summary: "The server refused the login",
                             explanation: "The server answered: \(attempt?.primary ?? error.primaryMessage)",
                             fixes: ["Read the server's log for the full reason; it says more than it tells the client."])
        }
        let layer = clientFileMessage(text) ? .clientFiles : layer(for: error.phase)
        return diagnosis(.unknown, layer, error,
                         summary: "The connection failed in the \(layer.rawValue) layer",
                         explanation: "libpq reported: \(attempt?.primary ?? error.primaryMessage)",
                         fixes: [])
    }

    /// The keyword of libpq's `invalid connection option "X"` / `invalid URI query parameter: "X"`.
    func unknownKeyword(_ error: ConnectionError) -> String? {
        if error.code == .unknownKeyword, let start = error.message.firstIndex(of: "\"") {
            return String(error.message[error.message.index(after: start)...].prefix { $0 != "\"" })
        }
        for prefix in ["invalid connection option \"", "invalid URI query parameter: \""] where error.message.hasPrefix(prefix) {
            return String(error.message.dropFirst(prefix.count).prefix { $0 != "\"" })
        }
        return nil
    }

    /// The attempt that explains the failure: the first TLS attempt of a `prefer` fallback,
    /// else the last one.
    func decisiveAttempt(_ error: ConnectionError) -> ConnectionError.Attempt? {
        if error.attempts.count > 1, let last = error.attempts.last, last.primary.hasSuffix("no encryption") {
            return error.attempts.dropLast().last ?? last
        }
        return error.attempts.last
    }

    /// libpq's messages about loading sslcert/sslkey/sslrootcert/sslcrl (`initialize_SSL`).
    func clientFileMessage(_ text: String) -> Bool {
        ["could not read certificate file", "could not open certificate file", "private key file",
         "could not load private key file", "certificate present, but not private key file",
         "root certificate file", "could not read root certificate file", "could not stat private key file",
         "certificate does not match private key file"].contains { text.contains($0) }
    }

    func layer(for phase: ConnectionPhase) -> Layer {
        switch phase {
        case .options: .config
        case .connecting: .network
        case .tls: .tls
        case .authentication: .authentication
        case .startup, .query: .authorization
        }
    }

    private func diagnosis(_ code: DiagnosisCode, _ layer: Layer, _ error: ConnectionError, summary: String,
                           explanation: String, fixes: [String]) -> Report.Diagnosis {
        var evidence: [String] = []
        if error.attempts.count > 1 {
            for (i, attempt) in error.attempts.enumerated() {
                evidence.append("attempt \(i + 1): \(attempt.target.map { $0 + ": " } ?? "")\(attempt.primary)")
            }
        }
        if let hint = error.hint, error.code == .keyPassphraseRequired { evidence.append(hint) }
        return Report.Diagnosis(code: code, layer: layer, summary: summary, explanation: explanation, evidence: evidence,
                                fixes: fixes, libpqMessage: error.message.trimmingCharacters(), sqlState: error.sqlState)
    }
}

extension String {
    func trimmingCharacters() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
