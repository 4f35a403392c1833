import PGConnect

/// Turns ``ServerFinding``s into the report's checks, problems and warnings: the one place that
/// decides what a finding means (its code, what the server will do, the server's own words, the
/// fix). The server's messages are worded per major version (PostgreSQL 15 proven against the real
/// server by ServerSetupTests; 16 and 17 from their source).
struct ServerSetupExplainer {
    var majorVersion: Int
    var dataDirectory: String
    var configFile: String
    var hbaFile: String
    var identFile: String
    var osUser: String

    /// What one finding adds to the report.
    struct Explained {
        var checks: [Report.Check] = []
        var problems: [ServerSetupReport.Problem] = []
        var warnings: [Report.Warning] = []
    }

    // MARK: The server's words, per version

    /// `FATAL: could not load pg_hba.conf` (15) / `could not load <hba_file>` (16+).
    var hbaNotLoadedAtStart: String { majorVersion >= 16 ? "could not load \(hbaFile)" : "could not load pg_hba.conf" }
    /// `LOG: pg_hba.conf was not reloaded` (15) / `<hba_file> was not reloaded` (16+).
    var hbaNotReloaded: String { majorVersion >= 16 ? "\(hbaFile) was not reloaded" : "pg_hba.conf was not reloaded" }
    var identNotReloaded: String { majorVersion >= 16 ? "\(identFile) was not reloaded" : "pg_ident.conf was not reloaded" }

    var tlsWillNotStart: String {
        "The server will refuse to start (FATAL). A running server that reloads keeps its previous TLS settings and logs \"SSL configuration was not reloaded\"."
    }

    func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : AuthFilePath.join(dataDirectory, path) }

    func hbaLine(_ rule: HBARule) -> Report.HBALine {
        Report.HBALine(file: rule.file, line: rule.lineNumber, text: HBASimulator.collapse(rule.text))
    }

    func place(_ rule: HBARule) -> String { "\(HBASimulator.baseName(rule.file)) line \(rule.lineNumber) (\(HBASimulator.collapse(rule.text)))" }

    // MARK: Findings

    func explain(_ finding: ServerFinding) -> Explained {
        var out = Explained()
        switch finding {
        case .configProblem(let problem):
            out = explainConfig(problem)

        case .relativeAuthFilePath(let setting, let value, let assumed):
            out.warnings.append(.init(code: .authFileNote,
                                      summary: "\(setting) = '\(value)' is relative: the server takes it from the directory it is started in (not the data directory); checked here as \(assumed)",
                                      fixes: ["Give \(setting) an absolute path"]))

        case .sslOff(let origin):
            out.checks.append(.init(layer: .network, id: "server-ssl", status: .fail, summary: "ssl = off (\(origin)): the server answers every SSLRequest with N"))
            out.problems.append(.init(
                code: .sslNotSupported, layer: .network, consequence: .handshakeFails,
                summary: "TLS is off (ssl = off): no client can log in with a certificate",
                whatHappens: "Clients with sslmode=require or stricter get \"server does not support SSL, but SSL was required\"; hostssl lines can never match.",
                explanation: "With ssl = off the server declines TLS, so no client certificate is ever sent and no hostssl line matches.",
                evidence: ["ssl = off (\(origin))"],
                fixes: ["Set ssl = on in postgresql.conf (with ssl_cert_file and ssl_key_file in place), then SELECT pg_reload_conf();"],
                clientMessage: "server does not support SSL, but SSL was required"))

        case .certificateLoadFailed(let path, let reason, let cause):
            let message = "could not load server certificate file \"\(path)\": \(reason)"
            out.checks.append(.init(layer: .tls, id: "server-certificate", status: .fail, summary: "ssl_cert_file \(path): \(reason)"))
            let code: DiagnosisCode
            var fixes: [String]
            var explanation: String
            switch cause {
            case .missing:
                code = .serverCertMissing
                explanation = "ssl_cert_file (relative paths are taken from the data directory) names \(absolute(path)), which does not exist."
                fixes = ["Put the server certificate at \(absolute(path)), or set ssl_cert_file to where it is (an absolute path, quoted: ssl_cert_file = '/etc/…/server.crt')."]
            case .unreadable(let because):
                code = .serverFileUnreadable
                explanation = "The server reads its files as the OS user \(osUser); \(because)."
                fixes = readableFixes(absolute(path), key: false)
            case .invalid:
                code = .serverCertInvalid
                explanation = "OpenSSL reads ssl_cert_file with SSL_CTX_use_certificate_chain_file: PEM certificates, the server's first, then its intermediates. It could not (\(reason))."
                fixes = ["Give the PEM certificate (-----BEGIN CERTIFICATE-----): openssl x509 -in \(absolute(path)) -noout -subject shows what the file holds; convert DER with openssl x509 -inform der -in FILE -out server.crt."]
            case .tooWeak:
                code = .serverCertTooWeak
                explanation = "OpenSSL's security level refuses this certificate chain (\(reason)): the key is too small or a signature uses a digest it no longer trusts (SHA-1, MD5)."
                fixes = ["Reissue the server certificate with an EC P-256 or RSA 2048+ key, signed with SHA-256 (openssl req -new -x509 -sha256 -newkey ec -pkeyopt ec_paramgen_curve:P-256 …)."]
            }
            out.problems.append(.init(code: code, layer: .tls, consequence: .willNotStart, summary: "The server cannot load its certificate \(path): \(reason)",
                                      whatHappens: tlsWillNotStart, explanation: explanation, evidence: ["ssl_cert_file = '\(path)' → \(absolute(path))"],
                                      fixes: fixes, serverMessage: message, file: absolute(path)))

        case .keyInaccessible(let path, let reason):
            out.checks.append(.init(layer: .tls, id: "server-key", status: .fail, summary: "ssl_key_file \(path): \(reason)"))
            out.problems.append(.init(code: .serverKeyMissing, layer: .tls, consequence: .willNotStart,
                                      summary: "The server's key \(path) cannot be found: \(reason)", whatHappens: tlsWillNotStart,
                                      explanation: "ssl_key_file (relative paths are taken from the data directory) names \(absolute(path)); stat() fails: \(reason).",
                                      evidence: ["ssl_key_file = '\(path)' → \(absolute(path))"],
                                      fixes: ["Put the key at \(absolute(path)) (owned by \(osUser), mode 0600), or set ssl_key_file to where it is."],
                                      serverMessage: "could not access private key file \"\(path)\": \(reason)", file: absolute(path)))

        case .keyNotRegularFile(let path):
            out.checks.append(.init(layer: .tls, id: "server-key", status: .fail, summary: "ssl_key_file \(path) is not a regular file"))
            out.problems.append(.init(code: .serverKeyInvalid, layer: .tls, consequence: .willNotStart,
                                      summary: "The server's key \(path) is not a regular file", whatHappens: tlsWillNotStart,
                                      explanation: "check_ssl_key_file_permissions() accepts only a regular file as the key.",
                                      fixes: ["Point ssl_key_file at the key file itself."],
                                      serverMessage: "private key file \"\(path)\" is not a regular file", file: absolute(path)))

        case .keyWrongOwner(let path, let status, let serverUser):
            out.checks.append(.init(layer: .tls, id: "server-key", status: .fail,
                                    summary: "ssl_key_file \(path): owner \(status.ownerName), mode \(status.modeText) — not \(serverUser) or root"))
            out.problems.append(.init(code: .serverKeyOwner, layer: .tls, consequence: .willNotStart,
                                      summary: "The server's key \(path) belongs to \(status.ownerName), not to \(serverUser) or root",
                                      whatHappens: tlsWillNotStart,
                                      explanation: "The server loads a key only when it is owned by the OS user it runs as (\(serverUser)) or by root (check_ssl_key_file_permissions()).",
                                      evidence: ["\(absolute(path)): owner \(status.ownerName) (uid \(status.owner)), mode \(status.modeText)"],
                                      fixes: ["chown \(serverUser) \(absolute(path)) && chmod 0600 \(absolute(path))",
                                              "or, root-owned and group-readable: chown root:\(serverUser) \(absolute(path)) && chmod 0640 \(absolute(path))"],
                                      serverMessage: "private key file \"\(path)\" must be owned by the database user or root", file: absolute(path)))

        case .keyPermissions(let path, let status, let ownedByRoot):
            let allowed = ownedByRoot ? "0640" : "0600"
            out.checks.append(.init(layer: .tls, id: "server-key", status: .fail,
                                    summary: "ssl_key_file \(path): owner \(status.ownerName), mode \(status.modeText) — allowed \(allowed) or less"))
            out.problems.append(.init(code: .serverKeyPermissions, layer: .tls, consequence: .willNotStart,
                                      summary: "The server's key \(path) has group or world access (mode \(status.modeText))",
                                      whatHappens: tlsWillNotStart,
                                      explanation: "The server refuses a key others can read: u=rw (0600) or less when owned by the server's user, u=rw,g=r (0640) or less when owned by root (check_ssl_key_file_permissions()). Kubernetes secrets and Docker volumes often mount keys 0644.",
                                      evidence: ["\(absolute(path)): owner \(status.ownerName), mode \(status.modeText)"],
                                      fixes: ["chmod \(allowed) \(absolute(path))"],
                                      serverMessage: "private key file \"\(path)\" has group or world access", file: absolute(path)))

        case .keyLoadFailed(let path, let reason, let cause):
            out.checks.append(.init(layer: .tls, id: "server-key", status: .fail, summary: "ssl_key_file \(path): \(reason)"))
            var explanation = "OpenSSL could not read a private key from \(absolute(path)) (\(reason))."
            var fixes = ["Give the PEM private key that belongs to ssl_cert_file (openssl pkey -in \(absolute(path)) -noout checks it)."]
            var code = DiagnosisCode.serverKeyInvalid
            if case .unreadable(let because) = cause {
                code = .serverFileUnreadable
                explanation = "The server reads its key as the OS user \(osUser); \(because)."
                fixes = readableFixes(absolute(path), key: true)
            }
            out.problems.append(.init(code: code, layer: .tls, consequence: .willNotStart, summary: "The server cannot load its key \(path): \(reason)",
                                      whatHappens: tlsWillNotStart, explanation: explanation, fixes: fixes,
                                      serverMessage: "could not load private key file \"\(path)\": \(reason)", file: absolute(path)))

        case .keyNeedsPassphrase(let path, let command, let supportsReload):
            if command.isEmpty {
                out.checks.append(.init(layer: .tls, id: "server-key", status: .fail, summary: "ssl_key_file \(path) is encrypted and no ssl_passphrase_command is set"))
                out.problems.append(.init(
                    code: .serverKeyEncrypted, layer: .tls, consequence: .willNotStart,
                    summary: "The server's key \(path) is encrypted and nothing gives the server its passphrase",
                    whatHappens: "At start the server asks for the passphrase on its terminal; started by pg_ctl -l or systemd (no terminal) it refuses to start (PostgreSQL 15 with OpenSSL 3.0 logs: could not load private key file \"\(path)\": processing error). A reload never asks: it logs \"private key file \"\(path)\" cannot be reloaded because it requires a passphrase\" and keeps the previous TLS settings.",
                    explanation: "Without ssl_passphrase_command OpenSSL's default prompt is the only way to decrypt the key.",
                    fixes: ["Decrypt the key (openssl pkey -in \(absolute(path)) -out server.key.new; then chown \(osUser) and chmod 0600), or set ssl_passphrase_command (and ssl_passphrase_command_supports_reload = on to allow reloads)."],
                    serverMessage: "private key file \"\(path)\" cannot be reloaded because it requires a passphrase", file: absolute(path)))
            } else {
                out.checks.append(.init(layer: .tls, id: "server-key", status: supportsReload ? .pass : .warn,
                                        summary: "ssl_key_file \(path) is encrypted; ssl_passphrase_command decrypts it at start\(supportsReload ? " and on reload" : "")"))
                if !supportsReload {
                    out.warnings.append(.init(code: .serverKeyReloadNeedsPassphrase,
                                              summary: "A reload cannot reload the encrypted key \(path): ssl_passphrase_command_supports_reload is off, so a reload logs \"private key file \"\(path)\" cannot be reloaded because it requires a passphrase\" and keeps the previous TLS settings",
                                              fixes: ["ssl_passphrase_command_supports_reload = on (when the command can run without a terminal), or restart the server to change TLS files"]))
                }
            }

        case .keyMismatch(let certificate, let key, let serverMessage):
            out.checks.append(.init(layer: .tls, id: "server-key", status: .fail, summary: "ssl_key_file \(key) is not the key of \(certificate)"))
            out.problems.append(.init(code: .serverKeyCertMismatch, layer: .tls, consequence: .willNotStart,
                                      summary: "The server's key \(key) does not belong to its certificate \(certificate)", whatHappens: tlsWillNotStart,
                                      explanation: "OpenSSL compares the key with the certificate's public key, and they differ.",
                                      fixes: ["Compare: openssl x509 -in \(absolute(certificate)) -noout -pubkey and openssl pkey -in \(absolute(key)) -pubout must print the same key; install the matching pair."],
                                      serverMessage: serverMessage, file: absolute(key)))

        case .protocolRangeInvalid(let minimum, let maximum):
            out.checks.append(.init(layer: .tls, id: "server-protocols", status: .fail, summary: "ssl_min_protocol_version \(minimum) is above ssl_max_protocol_version \(maximum)"))
            out.problems.append(.init(code: .serverTLSSettingInvalid, layer: .tls, consequence: .willNotStart,
                                      summary: "ssl_min_protocol_version (\(minimum)) is higher than ssl_max_protocol_version (\(maximum))", whatHappens: tlsWillNotStart,
                                      explanation: "No TLS version lies in that range.",
                                      evidence: ["DETAIL: \"ssl_min_protocol_version\" cannot be higher than \"ssl_max_protocol_version\""],
                                      fixes: ["ssl_min_protocol_version = 'TLSv1.2' and ssl_max_protocol_version = '' (any)"],
                                      serverMessage: "could not set SSL protocol version range"))

        case .ciphersInvalid(let value):
            out.checks.append(.init(layer: .tls, id: "server-ciphers", status: .fail, summary: "ssl_ciphers '\(value)' selects no cipher OpenSSL knows"))
            out.problems.append(.init(code: .serverTLSSettingInvalid, layer: .tls, consequence: .willNotStart,
                                      summary: "ssl_ciphers '\(value)' selects no cipher", whatHappens: tlsWillNotStart,
                                      explanation: "SSL_CTX_set_cipher_list accepts an OpenSSL cipher string (openssl ciphers -v '\(value)' shows what it selects).",
                                      fixes: ["ssl_ciphers = 'HIGH:MEDIUM:+3DES:!aNULL' (the default)"],
                                      serverMessage: "could not set the cipher list (no valid ciphers available)"))

        case .ecdhCurveInvalid(let value):
            out.checks.append(.init(layer: .tls, id: "server-ecdh", status: .fail, summary: "ssl_ecdh_curve '\(value)' is not a curve OpenSSL knows"))
            out.problems.append(.init(code: .serverTLSSettingInvalid, layer: .tls, consequence: .willNotStart,
                                      summary: "ssl_ecdh_curve '\(value)' is not a curve name OpenSSL knows", whatHappens: tlsWillNotStart,
                                      explanation: "The server looks the name up with OBJ_sn2nid (openssl ecparam -list_curves lists them).",
                                      fixes: ["ssl_ecdh_curve = 'prime256v1' (the default)"],
                                      serverMessage: "ECDH: unrecognized curve name: \(value)"))

        case .caFileLoadFailed(let path, let reason, let cause):
            out.checks.append(.init(layer: .tls, id: "server-ca-file", status: .fail, summary: "ssl_ca_file \(path): \(reason)"))
            var code = DiagnosisCode.serverCAFileInvalid
            var fixes = ["Give PEM CA certificates (the roots, and intermediates, client certificates are issued under)."]
            var explanation = "OpenSSL could not load ssl_ca_file as PEM CA certificates (\(reason))."
            switch cause {
            case .missing:
                code = .serverCAFileMissing
                explanation = "ssl_ca_file names \(absolute(path)), which does not exist."
                fixes = ["Put the CA certificate(s) at \(absolute(path)), or set ssl_ca_file to where they are."]
            case .unreadable(let because):
                code = .serverFileUnreadable
                explanation = "The server reads ssl_ca_file as the OS user \(osUser); \(because)."
                fixes = readableFixes(absolute(path), key: false)
            case .invalid, .tooWeak: break
            }
            out.problems.append(.init(code: code, layer: .tls, consequence: .willNotStart, summary: "The server cannot load ssl_ca_file \(path): \(reason)",
                                      whatHappens: tlsWillNotStart, explanation: explanation, fixes: fixes,
                                      serverMessage: "could not load root certificate file \"\(path)\": \(reason)", file: absolute(path)))

        case .crlLoadFailed(let file, let directory, let reason, let cause):
            let message: String
            if directory.isEmpty {
                message = "could not load SSL certificate revocation list file \"\(file)\": \(reason)"
            } else if file.isEmpty {
                message = "could not load SSL certificate revocation list directory \"\(directory)\": \(reason)"
            } else {
                message = "could not load SSL certificate revocation list file \"\(file)\" or directory \"\(directory)\": \(reason)"
            }
            let name = file.isEmpty ? directory : file
            out.checks.append(.init(layer: .tls, id: "server-crl", status: .fail, summary: "CRL \(name): \(reason)"))
            var fixes = ["Give PEM CRLs (-----BEGIN X509 CRL-----), one for every CA in ssl_ca_file."]
            var code = DiagnosisCode.serverCRLInvalid
            if cause == .missing {
                code = .serverCRLMissing
                fixes = ["Put the CRL file at \(absolute(name)), or unset ssl_crl_file/ssl_crl_dir."]
            } else if case .unreadable = cause {
                code = .serverFileUnreadable
                fixes = readableFixes(absolute(name), key: false)
            }
            out.problems.append(.init(code: code, layer: .tls, consequence: .willNotStart, summary: "The server cannot load its CRL \(name): \(reason)",
                                      whatHappens: tlsWillNotStart, explanation: "X509_STORE_load_locations could not load ssl_crl_file/ssl_crl_dir (\(reason)).",
                                      fixes: fixes, serverMessage: message, file: absolute(name)))

        case .certificateLoaded(let certificate, let chain):
            if let leaf = chain.first {
                let valid = leaf.notAfter.map { ", valid to \(CertificateInfo.iso8601($0))" } ?? ""
                let names = leaf.subjectAlternativeNames.isEmpty ? "no subjectAltName" : "SAN \(leaf.subjectAlternativeNames.joined(separator: ", "))"
                out.checks.append(.init(layer: .tls, id: "server-certificate", status: .pass,
                                        summary: "server certificate \(certificate): \(leaf.subject), \(names)\(valid)",
                                        detail: chain.count > 1 ? "with \(chain.count - 1) chain certificate(s): \(chain.dropFirst().map(\.subject).joined(separator: "; "))" : nil))
            }
        case .keyLoaded(let path, let description, let status):
            let mode = status.map { ", owner \($0.ownerName), mode \($0.modeText)" } ?? ""
            out.checks.append(.init(layer: .tls, id: "server-key", status: .pass, summary: "server key \(path): \(description)\(mode), matches the certificate"))
        case .caLoaded(let path, let certificates):
            out.checks.append(.init(layer: .tls, id: "server-ca-file", status: .pass,
                                    summary: "ssl_ca_file \(path): client certificates must chain to \(certificates.count == 1 ? "1 CA" : "\(certificates.count) CAs")",
                                    detail: certificates.map(\.subject).joined(separator: "\n")))

        case .serverCertificateExpired(let info):
            out.problems.append(.init(code: .serverCertExpired, layer: .tls, consequence: .handshakeFails,
                                      summary: "The server certificate expired on \(info.notAfter.map(CertificateInfo.iso8601) ?? "?")",
                                      whatHappens: "The server starts (OpenSSL does not check dates when loading), but every client that verifies the server (sslmode=verify-ca/verify-full, Go, Java, rustls) fails: \"certificate verify failed\".",
                                      explanation: "\(info.subject) is valid until \(info.notAfter.map(CertificateInfo.iso8601) ?? "?").",
                                      fixes: ["Renew the server certificate and SELECT pg_reload_conf();"],
                                      clientMessage: "SSL error: certificate verify failed"))
        case .serverCertificateNotYetValid(let info):
            out.problems.append(.init(code: .serverCertNotYetValid, layer: .tls, consequence: .handshakeFails,
                                      summary: "The server certificate is not valid before \(info.notBefore.map(CertificateInfo.iso8601) ?? "?")",
                                      whatHappens: "The server starts, but clients that verify it fail (\"certificate verify failed\") until then.",
                                      explanation: "\(info.subject) starts being valid at \(info.notBefore.map(CertificateInfo.iso8601) ?? "?") (or a clock is wrong).",
                                      fixes: ["Check the clocks (date -u) or reissue the certificate."],
                                      clientMessage: "SSL error: certificate verify failed"))
        case .serverCertificateExpiring(let info, let days):
            out.warnings.append(.init(code: .serverCertExpiring,
                                      summary: "The server certificate expires in \(days) day(s), on \(info.notAfter.map(CertificateInfo.iso8601) ?? "?")",
                                      fixes: ["Renew it and SELECT pg_reload_conf(); (new connections use the new certificate)"]))
        case .serverCertificateIsCA(let info, let trusted):
            out.warnings.append(.init(code: .serverCertIsCA,
                                      summary: "The server certificate \(info.subject) is a CA (basicConstraints CA:TRUE)"
                                        + (trusted ? " and ssl_ca_file trusts it for client certificates: whoever can read the server's key can mint a client certificate for any role" : "")
                                        + "; rustls, Go and other newer clients refuse a CA certificate as a server certificate",
                                      fixes: ["Make a separate CA (kept off the server) that issues the server certificate (CA:FALSE, serverAuth) and the client certificates; put only the CA in ssl_ca_file"]))
        case .serverCertificateCNOnly(let info):
            out.warnings.append(.init(code: .serverCertCNOnly,
                                      summary: "The server certificate \(info.subject) has no subjectAltName: libpq falls back to the CN, but Go, Node and other newer clients refuse it",
                                      fixes: ["Reissue it with subjectAltName = DNS:<every host name clients use>, IP:<every address they dial>"]))
        case .serverNameMismatch(let host, let info, let examined):
            out.checks.append(.init(layer: .tls, id: "server-name", status: .fail, summary: "host name \(host) is not in the server certificate (names: \(examined.joined(separator: ", ")))"))
            out.problems.append(.init(code: .serverNameMismatch, layer: .tls, consequence: .handshakeFails,
                                      summary: "Clients connecting to \(host) with sslmode=verify-full will refuse the server certificate",
                                      whatHappens: "libpq reports: server certificate for \"\(examined.first ?? info.commonName ?? "?")\"\(examined.count > 1 ? " (and \(examined.count - 1) other name\(examined.count > 2 ? "s" : ""))" : "") does not match host name \"\(host)\".",
                                      explanation: "libpq compares the host with every DNS/IP subjectAltName, and with the CN only when the certificate has no SAN of the host's type. \(info.subject) offers \(examined.isEmpty ? "no usable name" : examined.joined(separator: ", ")).",
                                      fixes: ["Reissue the server certificate with subjectAltName including \(HostnameMatcher.ipBytes(host) != nil ? "IP:" : "DNS:")\(host)"],
                                      clientMessage: "server certificate for \"\(examined.first ?? "")\" does not match host name \"\(host)\""))
        case .serverNameMatches(let host):
            out.checks.append(.init(layer: .tls, id: "server-name", status: .pass, summary: "host name \(host) matches the server certificate (libpq's verify-full rules)"))

        case .noCAFile:
            out.checks.append(.init(layer: .tls, id: "server-ca-file", status: .fail, summary: "no ssl_ca_file: the server never asks clients for a certificate"))
            out.problems.append(.init(code: .serverNoCA, layer: .authentication, consequence: .neverAsksForCertificate,
                                      summary: "The server has no ssl_ca_file: it never asks clients for a certificate",
                                      whatHappens: "Clients will never be asked for a certificate; a login through a cert or clientcert line fails with \"client certificates can only be checked if a root certificate store is available\".",
                                      explanation: "The server requests a client certificate only when ssl_ca_file is set: it sends those CAs' names in its CertificateRequest and verifies the certificate against them.",
                                      fixes: ["ssl_ca_file = 'root.crt' (the CA that issues your client certificates; relative to the data directory), then SELECT pg_reload_conf();"],
                                      clientMessage: "client certificates can only be checked if a root certificate store is available"))

        case .caChainIncomplete(let info):
            out.warnings.append(.init(code: .serverCAChainIncomplete,
                                      summary: "ssl_ca_file holds \(info.subject), issued by \(info.issuer), which is not in it: OpenSSL accepts no partial chains, so client certificates issued under it fail (unknown ca)",
                                      fixes: ["Add the root CA (\(info.issuer)) to ssl_ca_file"]))
        case .crlMissingForCA(let info):
            out.problems.append(.init(code: .serverCRLIncomplete, layer: .tls, consequence: .handshakeFails,
                                      summary: "No CRL for the CA \(info.subject): every client certificate issued under it is refused",
                                      whatHappens: "With a CRL set the server checks every CA of a client's chain (X509_V_FLAG_CRL_CHECK_ALL); without a CRL for this CA the handshake fails (\"unable to get certificate CRL\"), and the client sees \"tlsv1 alert unknown ca\".",
                                      explanation: "ssl_crl_file/ssl_crl_dir hold no CRL issued by \(info.subject).",
                                      fixes: ["Add this CA's CRL (even an empty one: openssl ca -gencrl) to ssl_crl_file"],
                                      serverMessage: "could not accept SSL connection: certificate verify failed",
                                      clientMessage: "SSL error: tlsv1 alert unknown ca"))
        case .crlExpired(let issuer, let nextUpdate):
            out.problems.append(.init(code: .serverCRLExpired, layer: .tls, consequence: .handshakeFails,
                                      summary: "The CRL of \(issuer) expired (nextUpdate \(nextUpdate)): client certificates under that CA are refused",
                                      whatHappens: "OpenSSL fails those chains with \"CRL has expired\"; the client sees a certificate-expired alert.",
                                      explanation: "A CRL past its nextUpdate no longer counts.",
                                      fixes: ["Publish a fresh CRL (openssl ca -gencrl) and SELECT pg_reload_conf();"],
                                      serverMessage: "could not accept SSL connection: certificate verify failed"))
        case .crlsLoaded(let count, let revoked):
            out.checks.append(.init(layer: .tls, id: "server-crl", status: .pass, summary: "\(count) CRL(s) loaded, \(revoked) certificate(s) revoked; every CA of a client chain needs one"))
        case .tlsSettings(let minimum, let maximum, let ciphers, let curve):
            out.checks.append(.init(layer: .tls, id: "server-protocols", status: .pass,
                                    summary: "protocols \(minimum) to \(maximum.isEmpty ? "the newest OpenSSL has" : maximum); ssl_ciphers '\(ciphers)' (TLS 1.2 and older); ssl_ecdh_curve \(curve)"))
        case .oldProtocolAllowed(let version):
            out.warnings.append(.init(code: .tlsOldProtocol, summary: "ssl_min_protocol_version = \(version) allows TLS versions older than 1.2",
                                      fixes: ["ssl_min_protocol_version = 'TLSv1.2' (the default since PostgreSQL 13)"]))

        case .hbaError(let error):
            out = explainHBAError(error)
        case .identError(let error):
            out = explainIdentError(error)
        case .authFileLimitation(let error):
            out.warnings.append(.init(code: .authFileNote, summary: "\(error.file):\(error.line): \(error.message) (the server accepts the line; the simulation cannot evaluate it exactly)"))
        case .authFileVersionNote(let note, let version):
            if note.message.contains("reports:") || note.message.contains("rejects the line") {
                let identFileNote = note.file == identFile || note.message.contains("missing entry")
                out.problems.append(.init(
                    code: identFileNote ? .identInvalidLine : .hbaInvalidLine, layer: .authentication,
                    consequence: identFileNote ? .runsWithoutMaps : .willNotStart,
                    summary: "PostgreSQL \(version) rejects \(HBASimulator.baseName(note.file)) line \(note.line): \(note.message)",
                    whatHappens: identFileNote ? identWhatHappens : hbaWhatHappens,
                    explanation: note.message, fixes: ["Write the line without PostgreSQL \(note.requiredServerVersion ?? 16)+ syntax, or upgrade the server"],
                    file: note.file, line: note.line))
            } else {
                out.warnings.append(.init(code: .authFileNote, summary: "\(HBASimulator.baseName(note.file)) line \(note.line): \(note.message)"))
            }

        case .hostsslWithoutSSL(let rule, _):
            out.problems.append(.init(code: .hbaLineNeverMatches, layer: .authentication, consequence: .lineNeverMatches,
                                      summary: "\(place(rule)) can never match: ssl = off",
                                      whatHappens: "The server loads the line, logs the message below (a LOG, not an error: the file still loads), and never matches it.",
                                      explanation: "A hostssl line matches only TLS connections, and with ssl = off there are none.",
                                      fixes: ["Set ssl = on (with the certificate and key in place), then SELECT pg_reload_conf();"],
                                      serverMessage: "hostssl record cannot match because SSL is disabled", file: rule.file, line: rule.lineNumber,
                                      hbaLine: hbaLine(rule)))
        case .certificateLineWithoutCA(let rule):
            out.problems.append(.init(code: .serverNoCA, layer: .authentication, consequence: .neverAsksForCertificate,
                                      summary: "\(place(rule)) needs a client certificate, and the server has no ssl_ca_file",
                                      whatHappens: "The server never asks clients for a certificate; a login through this line fails with \"client certificates can only be checked if a root certificate store is available\".",
                                      explanation: "The server requests a client certificate only when ssl_ca_file is set: it sends those CAs' names in its CertificateRequest and verifies the certificate against them.",
                                      fixes: ["ssl_ca_file = 'root.crt' (the CA that issues your client certificates; relative to the data directory), then SELECT pg_reload_conf();"],
                                      clientMessage: "client certificates can only be checked if a root certificate store is available",
                                      file: rule.file, line: rule.lineNumber, hbaLine: hbaLine(rule)))
        case .mapMissing(let rule, let map):
            out.problems.append(.init(code: .identMapMissing, layer: .authentication, consequence: .loginRefused,
                                      summary: "\(place(rule)) uses map=\(map), and pg_ident.conf has no line for that map",
                                      whatHappens: "Every login through this line fails: certificate authentication failed (server log: no match in usermap \"\(map)\" …).",
                                      explanation: "Map names are compared exactly, case-sensitively.",
                                      fixes: ["Add to \(identFile): \(map) <certificate CN or DN> <role>, then SELECT pg_reload_conf();"],
                                      file: rule.file, line: rule.lineNumber, hbaLine: hbaLine(rule), identMap: map))
        case .noCertificateLine:
            out.checks.append(.init(layer: .authentication, id: "hba-certificate-lines", status: .fail, summary: "no pg_hba.conf line uses cert or clientcert"))
            out.problems.append(.init(code: .hbaNoCertLine, layer: .authentication, consequence: .loginRefused,
                                      summary: "No pg_hba.conf line lets a client certificate log in",
                                      whatHappens: "The server never checks a client certificate: no line uses the cert method or clientcert=verify-ca/verify-full.",
                                      explanation: "A certificate login needs a hostssl line with method cert (the CN/DN must give the role) or another method with clientcert=verify-full.",
                                      fixes: ["Add before broader lines: hostssl all all <client network>/<bits> cert — then SELECT pg_reload_conf();"],
                                      file: hbaFile))
        case .certificateLines(let rules):
            out.checks.append(.init(layer: .authentication, id: "hba-certificate-lines", status: .pass,
                                    summary: "\(rules.count) pg_hba.conf line(s) take client certificates",
                                    detail: rules.map { place($0) }.joined(separator: "\n")))
        case .lineShadowed(let rule, let earlier, let partially, let reason):
            out.warnings.append(.init(code: .hbaLineShadowed,
                                      summary: partially
                                        ? "\(place(rule)) is partly shadowed by \(place(earlier)): \(reason) (first match wins)"
                                        : "\(place(rule)) is never reached: \(place(earlier)) comes first and \(reason)",
                                      fixes: ["Move \(HBASimulator.baseName(rule.file)) line \(rule.lineNumber) above line \(earlier.lineNumber), or narrow line \(earlier.lineNumber)"]))
        case .anyAddress(let rule):
            out.warnings.append(.init(code: .hbaAnyAddress,
                                      summary: "\(place(rule)) accepts connections from any address\(rule.method == "trust" ? " without a password or certificate" : "")",
                                      fixes: ["Narrow the address column to the networks clients really use (e.g. 10.0.0.0/8), and keep listen_addresses to the interfaces they reach"]))
        case .mapUnused(let map, let mapping):
            out.warnings.append(.init(code: .identMapUnused,
                                      summary: "pg_ident.conf map \"\(map)\" (\(HBASimulator.baseName(mapping.file)) line \(mapping.lineNumber)) is used by no pg_hba.conf line (map names are case-sensitive)",
                                      fixes: ["Add map=\(map) to the pg_hba.conf line it is meant for, or remove it"]))
        case .mappingNeverMatches(let mapping, let reason):
            out.warnings.append(.init(code: .identMapNeverMatches,
                                      summary: "\(HBASimulator.baseName(mapping.file)) line \(mapping.lineNumber) (\(HBASimulator.collapse(mapping.text))) never matches: \(reason)",
                                      fixes: ["openssl x509 -in CLIENT.crt -noout -subject -nameopt RFC2253 prints the DN as the server compares it"]))

        case .clientCertificateUnreadable, .clientChainRejected, .clientChainVerified, .loginSimulated,
             .roleMissing, .roleCannotLogin, .databaseMissing, .connectDenied:
            break  // The login is explained as a whole (ServerSetupCheck.explainLogin).

        case .adminConnectionFailed(let message):
            out.checks.append(.init(layer: .network, id: "admin-connection", status: .fail, summary: "--admin connection failed: \(message)"))
            out.problems.append(.init(code: .adminConnectionFailed, layer: .network, consequence: .handshakeFails,
                                      summary: "The --admin connection failed", whatHappens: "Nothing could be read from the running server.",
                                      explanation: message, fixes: ["Check the --admin conninfo with pgconnect-check \"<conninfo>\""],
                                      clientMessage: message))
        case .adminReadFailed(let message):
            out.checks.append(.init(layer: .config, id: "admin-read", status: .warn, summary: message))
        case .pendingReload(let settings):
            out.warnings.append(.init(code: .serverSettingsPendingReload,
                                      summary: "The running server has not applied what its files say: " + settings.map { "\($0.name) = '\($0.inFiles)' in the files, '\($0.running)' running" }.joined(separator: "; "),
                                      fixes: ["SELECT pg_reload_conf(); (then check pg_file_settings for errors)"]))
        case .pendingRestart(let names):
            out.warnings.append(.init(code: .serverSettingsPendingRestart,
                                      summary: "Settings waiting for a restart (pg_settings.pending_restart): \(names.joined(separator: ", "))",
                                      fixes: ["Restart the server"]))
        case .authFileChangedSinceReload(let file):
            out.warnings.append(.init(code: .authFileChanged,
                                      summary: "\(file) changed after the server last loaded its configuration: the rules in force are the older ones",
                                      fixes: ["SELECT pg_reload_conf(); then check pg_hba_file_rules / pg_ident_file_mappings for errors"]))
        }
        return out
    }

    var hbaWhatHappens: String {
        "The server will refuse to start (FATAL: \(hbaNotLoadedAtStart)). A reload keeps the previous pg_hba.conf (LOG: \(hbaNotReloaded))."
    }

    var identWhatHappens: String {
        "The server starts without any pg_ident.conf maps, so every login through map= fails; a reload keeps the previous maps (LOG: \(identNotReloaded))."
    }

    private func explainHBAError(_ error: AuthFileError) -> Explained {
        var out = Explained()
        let place = error.line > 0 ? "\(HBASimulator.baseName(error.file)) line \(error.line)" : error.file
        out.checks.append(.init(layer: .authentication, id: "hba-file", status: .fail, summary: "\(place): \(error.message)"))
        out.problems.append(.init(code: .hbaInvalidLine, layer: .authentication, consequence: .willNotStart,
                                  summary: "The server rejects \(place): \(error.message)", whatHappens: hbaWhatHappens,
                                  explanation: "load_hba() refuses the whole file when one line is invalid.",
                                  evidence: error.line > 0 ? ["CONTEXT: line \(error.line) of configuration file \"\(error.file)\""] : [],
                                  fixes: [hbaFix(error.message)], serverMessage: error.message, file: error.file, line: error.line > 0 ? error.line : nil))
        return out
    }

    private func hbaFix(_ message: String) -> String {
        if message.contains("clientcert can only be configured") || message.contains("clientname can only be configured") {
            return "Use hostssl for this line (clientcert and clientname need a TLS connection), or remove the option"
        }
        if message.contains("cert authentication is only supported on hostssl") { return "Change host to hostssl on this line" }
        if message.contains("clientcert only accepts \"verify-full\"") { return "Remove clientcert=verify-ca: the cert method always checks the name (verify-full)" }
        if message.contains("invalid value for clientcert") { return "clientcert=verify-ca or clientcert=verify-full (1/0/no-verify were removed in PostgreSQL 14)" }
        return "Correct the line (see the server's message), then SELECT pg_reload_conf(); and check SELECT * FROM pg_hba_file_rules WHERE error IS NOT NULL"
    }

    private func explainIdentError(_ error: AuthFileError) -> Explained {
        var out = Explained()
        let place = error.line > 0 ? "\(HBASimulator.baseName(error.file)) line \(error.line)" : error.file
        out.checks.append(.init(layer: .authentication, id: "ident-file", status: .fail, summary: "\(place): \(error.message)"))
        out.problems.append(.init(code: .identInvalidLine, layer: .authentication, consequence: .runsWithoutMaps,
                                  summary: "The server rejects \(place): \(error.message)", whatHappens: identWhatHappens,
                                  explanation: "load_ident() refuses the whole file when one line is invalid.",
                                  evidence: error.line > 0 ? ["CONTEXT: line \(error.line) of configuration file \"\(error.file)\""] : [],
                                  fixes: ["Correct the line, then SELECT pg_reload_conf(); and check SELECT * FROM pg_ident_file_mappings WHERE error IS NOT NULL"],
                                  serverMessage: error.message, file: error.file, line: error.line > 0 ? error.line : nil))
        return out
    }

    private func explainConfig(_ problem: ServerConfiguration.Problem) -> Explained {
        var out = Explained()
        let code: DiagnosisCode
        let reload: String
        var fixes: [String] = []
        switch problem.kind {
        case .syntax:
            code = .serverConfigSyntaxError
            reload = "A reload applies none of the file's changes (LOG: configuration file \"\(configFile)\" contains errors; no changes were applied)."
            fixes = ["Correct the line: name = value, with paths and other values that are not plain words in single quotes (ssl_cert_file = 'server.crt')"]
        case .missingFile:
            code = .serverConfigFileMissing
            reload = "A reload applies none of the file's changes."
            fixes = ["Create the included file or directory, or use include_if_exists"]
        case .unknownParameter:
            code = .serverConfigUnknownParameter
            reload = "A reload applies none of the file's changes."
            fixes = ["Correct the name (PostgreSQL \(majorVersion)'s SSL settings: \(ServerSettings.known.keys.filter { $0.hasPrefix("ssl") && ServerSettings.exists($0, majorVersion: majorVersion) && $0 != "ssl_library" && $0 != "ssl_renegotiation_limit" }.sorted().joined(separator: ", ")))"]
        case .invalidValue:
            code = .serverConfigInvalidValue
            reload = "A reload keeps this setting's old value and applies the others (LOG: … contains errors; unaffected changes were applied)."
            fixes = [problem.hint.map { "Use one of the values the server accepts (\($0))" } ?? "Correct the value"]
        }
        let place = problem.line > 0 ? "\(problem.file):\(problem.line)" : problem.file
        out.checks.append(.init(layer: .config, id: "server-config", status: .fail, summary: "\(place): \(problem.message)"))
        out.problems.append(.init(code: code, layer: .config, consequence: .willNotStart,
                                  summary: "postgresql.conf: \(problem.message)",
                                  whatHappens: "The server will refuse to start (FATAL: configuration file \"\(configFile)\" contains errors). \(reload)",
                                  explanation: "The server checks every file of its configuration before applying any of it.",
                                  evidence: problem.hint.map { ["HINT: \($0)"] } ?? [],
                                  fixes: fixes, serverMessage: problem.message, file: problem.file, line: problem.line > 0 ? problem.line : nil))
        return out
    }

    /// How to let the server's user read `path`.
    private func readableFixes(_ path: String, key: Bool) -> [String] {
        if key {
            return ["chown \(osUser) \(path) && chmod 0600 \(path) (or root-owned: chown root:\(osUser) \(path) && chmod 0640 \(path)), and make every directory on the way searchable by \(osUser)"]
        }
        return ["Let \(osUser) read it: chgrp \(osUser) \(path) && chmod g+r \(path) (certificates and CRLs are public: chmod 0644 is fine), and make every directory on the way searchable (chmod o+x DIR)"]
    }
}
