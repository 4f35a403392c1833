#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// The words for the client-file inspection: turns ``ClientFilesInspector/Result/findings`` into
/// one check per file, the first problem that makes the login impossible (the prediction the
/// ``Diagnoser`` reconciles with libpq's attempt) and the warnings. It reads only the result's
/// facts — no file, clock or user database — so the same findings always read the same.
public struct ClientFilesExplainer: Sendable {
    public typealias Result = ClientFilesInspector.Result
    public typealias File = ClientFilesInspector.File
    public typealias KeyStatus = ClientFilesInspector.KeyStatus

    /// The inspection in the report's terms.
    public struct Explanation: Sendable {
        /// One check per file, in libpq's order.
        public var checks: [Report.Check] = []
        /// The first problem that makes the login impossible, in libpq's order.
        public var diagnosis: Report.Diagnosis?
        public var warnings: [Report.Warning] = []
    }

    public init() {}

    public func explain(_ result: Result) -> Explanation {
        var explanation = Explanation()
        for finding in result.findings {
            explain(finding, in: result, into: &explanation)
        }
        return explanation
    }

    // MARK: Findings

    private func explain(_ finding: ClientFilesInspector.Finding, in result: Result, into out: inout Explanation) {
        let mode = result.sslmode
        let user = result.reader.name
        switch finding {
        case .tlsDisabled:
            out.checks.append(.init(layer: .clientFiles, id: "client-files", status: .skip,
                                    summary: "sslmode=disable: no TLS, so no certificate files are used"))

        // Root certificate

        case .noDefault(.rootCertificate):
            guard LibPQRules.requiresRootCertificate(sslmode: mode) else { return }
            fail(&out, id: "root-certificate", .rootCertMissing,
                 summary: "No root certificate: libpq cannot find a home directory for ~/.postgresql/root.crt",
                 explanation: "sslmode=\(mode.rawValue) verifies the server's certificate against sslrootcert, and none was named.",
                 fixes: ["Name the CA file that signed the server certificate: sslrootcert=/path/to/root.crt"])

        case .systemRoots:
            out.checks.append(.init(layer: .clientFiles, id: "root-certificate", status: .pass,
                                    summary: "sslrootcert=system: the operating system's trusted CAs verify the server"))

        case .missing(.rootCertificate, let file, let directory):
            if LibPQRules.requiresRootCertificate(sslmode: mode), file.path == "system", file.named {
                let cause = KnowledgeBase.cause("sslrootcert-system-old-libpq")
                fail(&out, id: "root-certificate", .rootCertMissing,
                     summary: "sslrootcert=system needs libpq 16; libpq \(LibPQ.majorVersion) looks for a file named \"system\"",
                     explanation: cause.cause, evidence: [Self.describeMissing(file, missingDirectory: directory)], fixes: cause.fixes)
            } else if LibPQRules.requiresRootCertificate(sslmode: mode) {
                fail(&out, id: "root-certificate", .rootCertMissing,
                     summary: "The root certificate file \(file.path) does not exist",
                     explanation: "sslmode=\(mode.rawValue) makes libpq verify the server's certificate against the CAs in \(file.named ? "sslrootcert" : "the default ~/.postgresql/root.crt"), and that file is not there, so libpq refuses to connect.",
                     evidence: [Self.describeMissing(file, missingDirectory: directory)],
                     fixes: ["Copy the CA certificate that signed the server's certificate to \(file.path), or point sslrootcert at it.",
                             "To see which CA that is: openssl s_client -starttls postgres -connect HOST:PORT -showcerts </dev/null"])
            } else {
                out.checks.append(.init(layer: .clientFiles, id: "root-certificate", status: .skip,
                                        summary: "no root certificate (\(file.path) does not exist): with sslmode=\(mode.rawValue) libpq does not verify the server"))
            }

        case .unreadable(.rootCertificate, let file, let problem):
            fail(&out, id: "root-certificate", .fileUnreadable,
                 summary: "The root certificate file \(file.path) cannot be read by \(user) as a certificate file",
                 explanation: "libpq loads the root certificate file whenever it exists and fails when it cannot read it.",
                 evidence: [problem], fixes: Self.readableFixes(file.path, user: user))

        case .notPEM(.rootCertificate, let file, let error):
            fail(&out, id: "root-certificate", .certUnparsable,
                 summary: "The root certificate file \(file.path) holds no PEM certificate",
                 explanation: "libpq reads sslrootcert as PEM certificates; OpenSSL found none (\(error ?? "unknown error")).",
                 fixes: ["Convert a DER file to PEM: openssl x509 -inform DER -in \(file.path) -out root.pem"])

        case .rootCertificatesLoaded(let file, let count):
            let names = result.rootCertificates.map(\.subject).joined(separator: "; ")
            let note = LibPQRules.requiresRootCertificate(sslmode: mode) ? "" : " (libpq verifies the server's chain because this file exists, even with sslmode=\(mode.rawValue))"
            out.checks.append(.init(layer: .clientFiles, id: "root-certificate", status: .pass,
                                    summary: "root certificate \(file.path): \(count) CA certificate\(count == 1 ? "" : "s")\(note)",
                                    detail: names))
            if !file.named {
                out.warnings.append(.init(code: .defaultFileUsed,
                                          summary: "libpq uses \(file.path) as the root certificate although sslrootcert was not given",
                                          fixes: ["Name the file explicitly with sslrootcert so the setup does not depend on the home directory."]))
            }

        // Client certificate

        case .noDefault(.certificate):
            out.checks.append(.init(layer: .clientFiles, id: "client-certificate", status: .skip,
                                    summary: "no client certificate: no sslcert and no home directory for the default"))

        case .missing(.certificate, let file, let directory):
            if file.named {
                fail(&out, id: "client-certificate", .certFileMissing,
                     summary: "The client certificate file \(file.path) does not exist",
                     explanation: "libpq silently connects without a client certificate when the sslcert file is missing — it does not report the missing file. A server that requires a certificate then answers only \"connection requires a valid client certificate\".",
                     evidence: [Self.describeMissing(file, missingDirectory: directory)],
                     fixes: ["Fix the sslcert path (on Windows write C:/path or quote backslashes: sslcert='C:\\\\path').",
                             "Check which user runs the client: relative and ~ paths depend on it."])
            } else {
                out.checks.append(.init(layer: .clientFiles, id: "client-certificate", status: .skip,
                                        summary: "no client certificate: sslcert not given and \(file.path) does not exist, so libpq sends none"))
            }

        case .cannotOpen(.certificate, let file, let reason):
            fail(&out, id: "client-certificate", .fileUnreadable,
                 summary: "The client certificate file \(file.path) cannot be opened",
                 explanation: "libpq fails with \"could not open certificate file\": \(reason).",
                 fixes: Self.readableFixes(file.path, user: user))

        case .unreadable(.certificate, let file, let problem):
            fail(&out, id: "client-certificate", .fileUnreadable,
                 summary: "The client certificate file \(file.path) cannot be read by \(user) as a certificate file",
                 explanation: "libpq must read the certificate file to send it.", evidence: [problem],
                 fixes: Self.readableFixes(file.path, user: user))

        case .notPEM(.certificate, let file, let error):
            fail(&out, id: "client-certificate", .certUnparsable,
                 summary: "The client certificate file \(file.path) holds no PEM certificate",
                 explanation: "libpq reads sslcert with SSL_CTX_use_certificate_chain_file, which accepts PEM only; OpenSSL found no certificate (\(error ?? "unknown error")).",
                 fixes: ["Convert a DER certificate to PEM: openssl x509 -inform DER -in \(file.path) -out client.crt"])

        case .certificateExpired(let file, let info):
            fail(&out, id: "client-certificate", .clientCertExpired,
                 summary: "The client certificate expired on \(info.notAfter.map(LoginChecker.iso8601) ?? "?")",
                 explanation: "The server rejects an expired client certificate during the TLS handshake (alert \"certificate expired\").",
                 evidence: Self.certificateEvidence(file, info, chain: result.clientChain),
                 fixes: ["Issue a new certificate for CN=\(info.commonName ?? "…") and replace \(file.path); check its dates with: openssl x509 -noout -dates -in \(file.path)"])

        case .certificateNotYetValid(let file, let info):
            fail(&out, id: "client-certificate", .clientCertNotYetValid,
                 summary: "The client certificate is not valid before \(info.notBefore.map(LoginChecker.iso8601) ?? "?")",
                 explanation: "The server rejects a certificate whose validity has not started (alert \"bad certificate\"). Either it was issued with a future start date or this machine's or the server's clock is wrong.",
                 evidence: Self.certificateEvidence(file, info, chain: result.clientChain),
                 fixes: ["Check the clocks (date -u here and on the server), or reissue the certificate with a start date in the past."])

        case .certificateWrongUsage(let file, let info):
            fail(&out, id: "client-certificate", .clientCertWrongUsage,
                 summary: "The client certificate is not allowed for client authentication (extendedKeyUsage: \(info.extendedKeyUsage.joined(separator: ", ")))",
                 explanation: "Its extendedKeyUsage extension lists purposes but not clientAuth, so the server's OpenSSL refuses it as a client certificate.",
                 evidence: Self.certificateEvidence(file, info, chain: result.clientChain),
                 fixes: ["Reissue it with extendedKeyUsage = clientAuth (openssl x509 -req ... -extfile <(printf 'extendedKeyUsage=clientAuth'))."])

        case .certificateExpiresSoon(let file, let info, let days):
            out.warnings.append(.init(code: .clientCertExpiring,
                                      summary: "the client certificate expires in \(days) day\(days == 1 ? "" : "s") (\(info.notAfter.map(LoginChecker.iso8601) ?? "?"))",
                                      fixes: ["Renew \(file.path) before it expires; logins fail from that moment on."]))

        case .certificateLoaded(let file, let info):
            out.checks.append(.init(layer: .clientFiles, id: "client-certificate", status: .pass,
                                    summary: "client certificate \(info.subject) (CN=\(info.commonName ?? "none")), issued by \(info.issuer)",
                                    detail: Self.certificateEvidence(file, info, chain: result.clientChain).joined(separator: "\n")))
            if !file.named {
                out.warnings.append(.init(code: .defaultFileUsed,
                                          summary: "libpq sends \(file.path) as the client certificate although sslcert was not given",
                                          fixes: ["Name the file explicitly with sslcert (and sslkey) so the login does not depend on the home directory."]))
            }

        // Key

        case .noDefault(.key), .keyFromEngine:
            break  // nothing libpq would check here (an engine key is the engine's)

        case .missing(.key, let file, let directory):
            fail(&out, id: "client-key", .keyFileMissing,
                 summary: "The client key file \(file.path) does not exist",
                 explanation: "libpq found the client certificate but not its private key (\"certificate present, but not private key file\").",
                 evidence: [Self.describeMissing(file, missingDirectory: directory)],
                 fixes: ["Point sslkey at the key that belongs to \(result.certificate?.path ?? "the certificate")."])

        case .cannotOpen(.key, let file, let reason):
            fail(&out, id: "client-key", .fileUnreadable,
                 summary: "The client key file \(file.path) cannot be examined", explanation: reason,
                 fixes: Self.readableFixes(file.path, user: user))

        case .keyNotRegularFile(let file):
            fail(&out, id: "client-key", .fileUnreadable,
                 summary: "The client key \(file.path) is not a regular file",
                 explanation: "libpq refuses a key that is a directory, device or socket (\"private key file is not a regular file\").",
                 fixes: ["Point sslkey at the key file itself."])

        case .keyPermissions(let file, let key):
            fail(&out, id: "client-key", .keyPermissions,
                 summary: "The client key \(file.path) is readable by others (mode \(Self.octal(key.mode)))",
                 explanation: "libpq refuses a private key that group or others can access: it must be u=rw (0600) or less, or u=rw,g=r (0640) or less when owned by root.",
                 evidence: [Self.describe(key)],
                 fixes: ["chmod 600 \(file.path)" + (key.ownerIsRoot || key.owner == result.reader.uid ? "" : " (as its owner, or chown \(user) \(file.path) first)"),
                         "A key mounted from a Kubernetes Secret or similar: copy it to a 0600 file at start-up and point sslkey at the copy."])

        case .keyUnreadable(let file, let key, let problem):
            fail(&out, id: "client-key", .fileUnreadable,
                 summary: "The client key \(file.path) cannot be read by \(user)",
                 explanation: "The permissions are strict enough for libpq, but this OS user cannot read the file.",
                 evidence: [problem, Self.describe(key)],
                 fixes: ["Run the client as \(key.ownerName), or: chown \(user) \(file.path) && chmod 600 \(file.path)"])

        case .keyNeedsPassphrase(let file, let key):
            fail(&out, id: "client-key", .keyEncrypted,
                 summary: "The client key \(file.path) is encrypted and no passphrase was given",
                 explanation: "libpq needs sslpassword to open an encrypted key. Without it, psql would prompt on a terminal and a service would fail; pgconnect never prompts.",
                 evidence: [Self.describe(key)],
                 fixes: ["Give the passphrase: pgconnect-check --sslpassword-file FILE, or sslpassword in the connection string.",
                         "Or decrypt the key once and keep it 0600: openssl pkey -in \(file.path) -out client.key && chmod 600 client.key"])

        case .keyWrongPassphrase(let file, let key, let reason):
            fail(&out, id: "client-key", .keyEncrypted,
                 summary: "The passphrase given does not open the encrypted key \(file.path)",
                 explanation: "OpenSSL could not decrypt the key with the sslpassword given (\(reason)); libpq reports \"bad decrypt\".",
                 evidence: [Self.describe(key)],
                 fixes: ["Give the right passphrase (check the --sslpassword-file contents for a stray character); test it with: openssl pkey -in \(file.path) -noout"])

        case .keyNotAKey(let file, let key, let reason):
            fail(&out, id: "client-key", .certUnparsable,
                 summary: "The client key \(file.path) is not a private key OpenSSL can read",
                 explanation: "libpq loads sslkey as PEM, then DER; both failed (\(reason)).",
                 evidence: [Self.describe(key)],
                 fixes: ["Check that sslkey names the key and not the certificate: openssl pkey -in \(file.path) -noout"])

        case .keyMismatch(let file, let key):
            fail(&out, id: "client-key", .keyCertMismatch,
                 summary: "The client key \(file.path) does not belong to the certificate \(result.certificate?.path ?? "")",
                 explanation: "The private key and the certificate's public key differ (libpq: \"certificate does not match private key file\").",
                 evidence: [Self.describe(key)],
                 fixes: ["Compare: openssl x509 -noout -pubkey -in \(result.certificate?.path ?? "CERT") | sha256sum; openssl pkey -pubout -in \(file.path) | sha256sum",
                         "Use the key the certificate was issued for, or issue a new certificate for this key."])

        case .keyLoaded(let file, let key, let encrypted):
            out.checks.append(.init(layer: .clientFiles, id: "client-key", status: .pass,
                                    summary: "client key \(file.path) matches the certificate\(encrypted ? " (encrypted; opened with sslpassword)" : ""); \(Self.describe(key))"))
            if !file.named {
                out.warnings.append(.init(code: .defaultFileUsed,
                                          summary: "libpq uses \(file.path) as the client key although sslkey was not given",
                                          fixes: ["Name the file explicitly with sslkey."]))
            }

        // CRL

        case .crlMissing(let path):
            out.checks.append(.init(layer: .clientFiles, id: "crl-file", status: .warn,
                                    summary: "sslcrl \(path) does not exist; libpq ignores a missing CRL file without a word",
                                    detail: "The server's certificate is then not checked for revocation."))

        // Combinations the inspector does not produce.
        case .noDefault(.crl), .missing(.crl, _, _), .cannotOpen(.rootCertificate, _, _), .cannotOpen(.crl, _, _),
             .unreadable(.key, _, _), .unreadable(.crl, _, _), .notPEM(.key, _, _), .notPEM(.crl, _, _):
            break
        }
    }

    // MARK: Helpers

    /// The check of a failed file, and the diagnosis when it is the first failure.
    private func fail(_ out: inout Explanation, id: String, _ code: DiagnosisCode, summary: String, explanation: String,
                      evidence: [String] = [], fixes: [String]) {
        out.checks.append(.init(layer: .clientFiles, id: id, status: .fail, summary: summary))
        if out.diagnosis == nil {
            out.diagnosis = Report.Diagnosis(code: code, layer: .clientFiles, summary: summary, explanation: explanation,
                                             evidence: evidence, fixes: fixes)
        }
    }

    /// The client certificate file's contents, issuer and validity.
    static func certificateEvidence(_ file: File, _ info: CertificateInfo, chain: [CertificateInfo]) -> [String] {
        let count = max(chain.count, 1)
        let rest = chain.dropFirst().map(\.subject).joined(separator: "; ")
        var evidence = ["\(file.path): \(count == 1 ? "the leaf certificate only" : "the leaf and \(count - 1) more certificate\(count == 2 ? "" : "s") (\(rest))")",
                        "issuer: \(info.issuer)"]
        if let notBefore = info.notBefore, let notAfter = info.notAfter {
            evidence.append("valid \(LoginChecker.iso8601(notBefore)) to \(LoginChecker.iso8601(notAfter))")
        }
        return evidence
    }

    static func describeMissing(_ file: File, missingDirectory: String?) -> String {
        var text = "\(file.path) does not exist"
        if let missingDirectory { text += " (nor does the directory \(missingDirectory))" }
        if !file.named {
            text += "; it is libpq's default because the option was not given"
            if let home = file.home { text += " (home directory \(home.path), from \(home.source.rawValue): \(LibPQRules.homeRuleText()))" }
        }
        return text
    }

    /// `owner alice (uid 1000), mode 0600`.
    static func describe(_ key: KeyStatus) -> String {
        "owner \(key.ownerName) (uid \(key.owner)), mode \(octal(key.mode))"
    }

    static func octal(_ mode: mode_t) -> String { String(mode, radix: 8).leftPadded(to: 4) }

    static func readableFixes(_ path: String, user: String) -> [String] {
        ["Make the file readable by \(user): chown \(user) \(path) (keys: chmod 600; certificates: chmod 644), and check every directory above it is searchable (ls -ld)."]
    }
}
