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

/// The files libpq will use for a TLS login, checked by libpq's own rules before connecting.
///
/// It follows `initialize_SSL()` in libpq's fe-secure-openssl.c: the root certificate
/// (`sslrootcert`, else `~/.postgresql/root.crt`), the client certificate (`sslcert`, else
/// `~/.postgresql/postgresql.crt`; a missing one is silently skipped by libpq) and, when there is a
/// certificate, its key (`sslkey`, else `~/.postgresql/postgresql.key`) with the same permission
/// rule. The paths and the home directory come from ``ResolvedTarget/files`` (``LibPQRules``).
public struct ClientFilesInspector: Sendable {
    /// Warn when the client certificate expires within this many days.
    public var expiryWarningDays: Int

    public init(expiryWarningDays: Int = 30) { self.expiryWarningDays = expiryWarningDays }

    /// One file libpq will look at.
    public struct File: Sendable, Hashable {
        /// The path libpq uses.
        public var path: String
        /// Whether the user named it (else it is libpq's `~/.postgresql/` default).
        public var named: Bool
        /// Whether it exists.
        public var exists: Bool
        /// For a default file: the home directory libpq took it from.
        public var home: LibPQRules.HomeDirectory? = nil
    }

    /// What the inspection found.
    public struct Result: Sendable {
        /// One check per file, in libpq's order.
        public var checks: [Report.Check] = []
        /// The first problem that makes the login impossible, in libpq's order.
        public var diagnosis: Report.Diagnosis?
        public var warnings: [Report.Warning] = []
        public var rootCertificate: File?
        public var certificate: File?
        public var key: File?
        /// The certificates in the client certificate file, leaf first.
        public var clientChain: [CertificateInfo] = []
        /// The CA certificates in the root certificate file.
        public var rootCertificates: [CertificateInfo] = []
        /// Whether libpq will send a client certificate.
        public var sendsCertificate: Bool { !clientChain.isEmpty }
    }

    /// Inspects the files `options` (after libpq's environment and defaults) points at.
    public func inspect(_ options: ConnectionOptions) -> Result { inspect(ResolvedTarget(options)) }

    /// Inspects the files of a resolved login.
    public func inspect(_ target: ResolvedTarget) -> Result {
        let effective = target.effective
        var result = Result()
        let mode = target.sslmode
        if mode == "disable" {
            result.checks.append(.init(layer: .clientFiles, id: "client-files", status: .skip,
                                       summary: "sslmode=disable: no TLS, so no certificate files are used"))
            return result
        }
        let home = target.files.home
        func resolve(_ file: LibPQFiles.File?) -> File? {
            file.map { File(path: $0.path, named: $0.named, exists: FileManager.default.fileExists(atPath: $0.path), home: $0.named ? nil : home) }
        }

        inspectRoot(resolve(target.files.rootCertificate), mode: mode, into: &result)
        let certificate = inspectCertificate(resolve(target.files.certificate), into: &result)
        if let certificate {
            inspectKey(resolve(target.files.key), certificate: certificate,
                       passphrase: effective.sslpassword.flatMap { $0.isEmpty ? nil : $0 }, into: &result)
        }
        if let crl = effective["sslcrl"], !crl.isEmpty, !FileManager.default.fileExists(atPath: crl) {
            result.checks.append(.init(layer: .clientFiles, id: "crl-file", status: .warn,
                                       summary: "sslcrl \(crl) does not exist; libpq ignores a missing CRL file without a word",
                                       detail: "The server's certificate is then not checked for revocation."))
        }
        return result
    }

    // MARK: Root certificate

    private func inspectRoot(_ file: File?, mode: String, into result: inout Result) {
        let verifies = mode == "verify-ca" || mode == "verify-full"
        guard var file else {
            if verifies {
                fail(&result, id: "root-certificate", .rootCertMissing,
                     summary: "No root certificate: libpq cannot find a home directory for ~/.postgresql/root.crt",
                     explanation: "sslmode=\(mode) verifies the server's certificate against sslrootcert, and none was named.",
                     fixes: ["Name the CA file that signed the server certificate: sslrootcert=/path/to/root.crt"])
            }
            return
        }
        if LibPQRules.systemRootsSupported(), file.named, file.path == "system" {
            result.checks.append(.init(layer: .clientFiles, id: "root-certificate", status: .pass,
                                       summary: "sslrootcert=system: the operating system's trusted CAs verify the server"))
            return
        }
        result.rootCertificate = file
        guard file.exists else {
            if verifies {
                fail(&result, id: "root-certificate", .rootCertMissing,
                     summary: "The root certificate file \(file.path) does not exist",
                     explanation: "sslmode=\(mode) makes libpq verify the server's certificate against the CAs in \(file.named ? "sslrootcert" : "the default ~/.postgresql/root.crt"), and that file is not there, so libpq refuses to connect.",
                     evidence: [Self.describeMissing(file)],
                     fixes: ["Copy the CA certificate that signed the server's certificate to \(file.path), or point sslrootcert at it.",
                             "To see which CA that is: openssl s_client -starttls postgres -connect HOST:PORT -showcerts </dev/null"])
            } else {
                result.checks.append(.init(layer: .clientFiles, id: "root-certificate", status: .skip,
                                           summary: "no root certificate (\(file.path) does not exist): with sslmode=\(mode) libpq does not verify the server"))
            }
            return
        }
        if let problem = FileInspector.readableProblem(file.path) {
            fail(&result, id: "root-certificate", .fileUnreadable,
                 summary: "The root certificate file \(file.path) cannot be read by \(Self.currentUserName()) as a certificate file",
                 explanation: "libpq loads the root certificate file whenever it exists and fails when it cannot read it.",
                 evidence: [problem], fixes: Self.readableFixes(file.path))
            return
        }
        let (certificates, error) = PEMFile.certificates(atPath: file.path)
        guard !certificates.isEmpty else {
            fail(&result, id: "root-certificate", .certUnparsable,
                 summary: "The root certificate file \(file.path) holds no PEM certificate",
                 explanation: "libpq reads sslrootcert as PEM certificates; OpenSSL found none (\(error ?? "unknown error")).",
                 fixes: ["Convert a DER file to PEM: openssl x509 -inform DER -in \(file.path) -out root.pem"])
            return
        }
        file.exists = true
        result.rootCertificates = certificates.map(\.info)
        let names = result.rootCertificates.map(\.subject).joined(separator: "; ")
        let note = verifies ? "" : " (libpq verifies the server's chain because this file exists, even with sslmode=\(mode))"
        result.checks.append(.init(layer: .clientFiles, id: "root-certificate", status: .pass,
                                   summary: "root certificate \(file.path): \(certificates.count) CA certificate\(certificates.count == 1 ? "" : "s")\(note)",
                                   detail: names))
        if !file.named {
            result.warnings.append(.init(code: .defaultFileUsed,
                                         summary: "libpq uses \(file.path) as the root certificate although sslrootcert was not given",
                                         fixes: ["Name the file explicitly with sslrootcert so the setup does not depend on the home directory."]))
        }
    }

    // MARK: Client certificate

    private func inspectCertificate(_ file: File?, into result: inout Result) -> X509Certificate? {
        guard let file else {
            result.checks.append(.init(layer: .clientFiles, id: "client-certificate", status: .skip,
                                       summary: "no client certificate: no sslcert and no home directory for the default"))
            return nil
        }
        result.certificate = file
        var status = stat()
        if stat(file.path, &status) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                if file.named {
                    fail(&result, id: "client-certificate", .certFileMissing,
                         summary: "The client certificate file \(file.path) does not exist",
                         explanation: "libpq silently connects without a client certificate when the sslcert file is missing — it does not report the missing file. A server that requires a certificate then answers only \"connection requires a valid client certificate\".",
                         evidence: [Self.describeMissing(file)],
                         fixes: ["Fix the sslcert path (on Windows write C:/path or quote backslashes: sslcert='C:\\\\path').",
                                 "Check which user runs the client: relative and ~ paths depend on it."])
                } else {
                    result.checks.append(.init(layer: .clientFiles, id: "client-certificate", status: .skip,
                                               summary: "no client certificate: sslcert not given and \(file.path) does not exist, so libpq sends none"))
                }
                return nil
            }
            fail(&result, id: "client-certificate", .fileUnreadable,
                 summary: "The client certificate file \(file.path) cannot be opened",
                 explanation: "libpq fails with \"could not open certificate file\": \(String(cString: strerror(code))).",
                 fixes: Self.readableFixes(file.path))
            return nil
        }
        if let problem = FileInspector.readableProblem(file.path) {
            fail(&result, id: "client-certificate", .fileUnreadable,
                 summary: "The client certificate file \(file.path) cannot be read by \(Self.currentUserName()) as a certificate file",
                 explanation: "libpq must read the certificate file to send it.", evidence: [problem],
                 fixes: Self.readableFixes(file.path))
            return nil
        }
        let (certificates, error) = PEMFile.certificates(atPath: file.path)
        guard let leaf = certificates.first else {
            fail(&result, id: "client-certificate", .certUnparsable,
                 summary: "The client certificate file \(file.path) holds no PEM certificate",
                 explanation: "libpq reads sslcert with SSL_CTX_use_certificate_chain_file, which accepts PEM only; OpenSSL found no certificate (\(error ?? "unknown error")).",
                 fixes: ["Convert a DER certificate to PEM: openssl x509 -inform DER -in \(file.path) -out client.crt"])
            return nil
        }
        result.clientChain = certificates.map(\.info)
        let info = leaf.info
        let identity = "certificate \(info.subject) (CN=\(info.commonName ?? "none"))"
        var evidence = ["\(file.path): \(certificates.count == 1 ? "the leaf certificate only" : "the leaf and \(certificates.count - 1) more certificate\(certificates.count == 2 ? "" : "s") (\(result.clientChain.dropFirst().map(\.subject).joined(separator: "; ")))")",
                        "issuer: \(info.issuer)"]
        if let notBefore = info.notBefore, let notAfter = info.notAfter {
            evidence.append("valid \(LoginChecker.iso8601(notBefore)) to \(LoginChecker.iso8601(notAfter))")
        }
        let now = Date()
        if let notAfter = info.notAfter, notAfter < now {
            fail(&result, id: "client-certificate", .clientCertExpired,
                 summary: "The client certificate expired on \(LoginChecker.iso8601(notAfter))",
                 explanation: "The server rejects an expired client certificate during the TLS handshake (alert \"certificate expired\").",
                 evidence: evidence,
                 fixes: ["Issue a new certificate for CN=\(info.commonName ?? "…") and replace \(file.path); check its dates with: openssl x509 -noout -dates -in \(file.path)"])
            return leaf
        }
        if let notBefore = info.notBefore, notBefore > now {
            fail(&result, id: "client-certificate", .clientCertNotYetValid,
                 summary: "The client certificate is not valid before \(LoginChecker.iso8601(notBefore))",
                 explanation: "The server rejects a certificate whose validity has not started (alert \"bad certificate\"). Either it was issued with a future start date or this machine's or the server's clock is wrong.",
                 evidence: evidence,
                 fixes: ["Check the clocks (date -u here and on the server), or reissue the certificate with a start date in the past."])
            return leaf
        }
        if !info.extendedKeyUsage.isEmpty, !info.extendedKeyUsage.contains("clientAuth") {
            fail(&result, id: "client-certificate", .clientCertWrongUsage,
                 summary: "The client certificate is not allowed for client authentication (extendedKeyUsage: \(info.extendedKeyUsage.joined(separator: ", ")))",
                 explanation: "Its extendedKeyUsage extension lists purposes but not clientAuth, so the server's OpenSSL refuses it as a client certificate.",
                 evidence: evidence,
                 fixes: ["Reissue it with extendedKeyUsage = clientAuth (openssl x509 -req ... -extfile <(printf 'extendedKeyUsage=clientAuth'))."])
            return leaf
        }
        if let notAfter = info.notAfter, notAfter.timeIntervalSince(now) < Double(expiryWarningDays) * 86400 {
            let days = Int(notAfter.timeIntervalSince(now) / 86400)
            result.warnings.append(.init(code: .clientCertExpiring,
                                         summary: "the client certificate expires in \(days) day\(days == 1 ? "" : "s") (\(LoginChecker.iso8601(notAfter)))",
                                         fixes: ["Renew \(file.path) before it expires; logins fail from that moment on."]))
        }
        result.checks.append(.init(layer: .clientFiles, id: "client-certificate", status: .pass,
                                   summary: "client \(identity), issued by \(info.issuer)",
                                   detail: evidence.joined(separator: "\n")))
        if !file.named {
            result.warnings.append(.init(code: .defaultFileUsed,
                                         summary: "libpq sends \(file.path) as the client certificate although sslcert was not given",
                                         fixes: ["Name the file explicitly with sslcert (and sslkey) so the login does not depend on the home directory."]))
        }
        return leaf
    }

    // MARK: Key

    private func inspectKey(_ file: File?, certificate: X509Certificate, passphrase: String?, into result: inout Result) {
        guard let file else { return }
        result.key = file
        if file.named, file.path.contains(":"), !file.exists { return }  // engine:key syntax; libpq asks the engine
        var status = stat()
        if stat(file.path, &status) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                fail(&result, id: "client-key", .keyFileMissing,
                     summary: "The client key file \(file.path) does not exist",
                     explanation: "libpq found the client certificate but not its private key (\"certificate present, but not private key file\").",
                     evidence: [Self.describeMissing(file)],
                     fixes: ["Point sslkey at the key that belongs to \(result.certificate?.path ?? "the certificate")."])
            } else {
                fail(&result, id: "client-key", .fileUnreadable,
                     summary: "The client key file \(file.path) cannot be examined", explanation: String(cString: strerror(code)),
                     fixes: Self.readableFixes(file.path))
            }
            return
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            fail(&result, id: "client-key", .fileUnreadable,
                 summary: "The client key \(file.path) is not a regular file",
                 explanation: "libpq refuses a key that is a directory, device or socket (\"private key file is not a regular file\").",
                 fixes: ["Point sslkey at the key file itself."])
            return
        }
        let mode = status.st_mode & 0o7777
        let ownerIsRoot = status.st_uid == 0
        let forbidden = LibPQRules.forbiddenKeyModeBits(ownerIsRoot: ownerIsRoot)
        let facts = "owner \(Self.userName(status.st_uid)) (uid \(status.st_uid)), mode \(String(mode, radix: 8).leftPadded(to: 4))"
        if mode & forbidden != 0 {
            fail(&result, id: "client-key", .keyPermissions,
                 summary: "The client key \(file.path) is readable by others (mode \(String(mode, radix: 8).leftPadded(to: 4)))",
                 explanation: "libpq refuses a private key that group or others can access: it must be u=rw (0600) or less, or u=rw,g=r (0640) or less when owned by root.",
                 evidence: [facts],
                 fixes: ["chmod 600 \(file.path)" + (ownerIsRoot || status.st_uid == geteuid() ? "" : " (as its owner, or chown \(Self.currentUserName()) \(file.path) first)"),
                         "A key mounted from a Kubernetes Secret or similar: copy it to a 0600 file at start-up and point sslkey at the copy."])
            return
        }
        if let problem = FileInspector.readableProblem(file.path) {
            fail(&result, id: "client-key", .fileUnreadable,
                 summary: "The client key \(file.path) cannot be read by \(Self.currentUserName())",
                 explanation: "The permissions are strict enough for libpq, but this OS user cannot read the file.",
                 evidence: [problem, facts],
                 fixes: ["Run the client as \(Self.userName(status.st_uid)), or: chown \(Self.currentUserName()) \(file.path) && chmod 600 \(file.path)"])
            return
        }
        switch PEMFile.privateKey(atPath: file.path, passphrase: passphrase) {
        case .needsPassphrase:
            fail(&result, id: "client-key", .keyEncrypted,
                 summary: "The client key \(file.path) is encrypted and no passphrase was given",
                 explanation: "libpq needs sslpassword to open an encrypted key. Without it, psql would prompt on a terminal and a service would fail; pgconnect never prompts.",
                 evidence: [facts],
                 fixes: ["Give the passphrase: pgconnect-check --sslpassword-file FILE, or sslpassword in the connection string.",
                         "Or decrypt the key once and keep it 0600: openssl pkey -in \(file.path) -out client.key && chmod 600 client.key"])
        case .wrongPassphrase(let reason):
            fail(&result, id: "client-key", .keyEncrypted,
                 summary: "The passphrase given does not open the encrypted key \(file.path)",
                 explanation: "OpenSSL could not decrypt the key with the sslpassword given (\(reason)); libpq reports \"bad decrypt\".",
                 evidence: [facts],
                 fixes: ["Give the right passphrase (check the --sslpassword-file contents for a stray character); test it with: openssl pkey -in \(file.path) -noout"])
        case .unparsable(let reason):
            fail(&result, id: "client-key", .certUnparsable,
                 summary: "The client key \(file.path) is not a private key OpenSSL can read",
                 explanation: "libpq loads sslkey as PEM, then DER; both failed (\(reason)).",
                 evidence: [facts],
                 fixes: ["Check that sslkey names the key and not the certificate: openssl pkey -in \(file.path) -noout"])
        case .loaded(let key, let encrypted):
            guard PEMFile.matches(certificate, key) else {
                fail(&result, id: "client-key", .keyCertMismatch,
                     summary: "The client key \(file.path) does not belong to the certificate \(result.certificate?.path ?? "")",
                     explanation: "The private key and the certificate's public key differ (libpq: \"certificate does not match private key file\").",
                     evidence: [facts],
                     fixes: ["Compare: openssl x509 -noout -pubkey -in \(result.certificate?.path ?? "CERT") | sha256sum; openssl pkey -pubout -in \(file.path) | sha256sum",
                             "Use the key the certificate was issued for, or issue a new certificate for this key."])
                return
            }
            result.checks.append(.init(layer: .clientFiles, id: "client-key", status: .pass,
                                       summary: "client key \(file.path) matches the certificate\(encrypted ? " (encrypted; opened with sslpassword)" : ""); \(facts)"))
            if !file.named {
                result.warnings.append(.init(code: .defaultFileUsed,
                                             summary: "libpq uses \(file.path) as the client key although sslkey was not given",
                                             fixes: ["Name the file explicitly with sslkey."]))
            }
        }
    }

    // MARK: Helpers

    private func fail(_ result: inout Result, id: String, _ code: DiagnosisCode, summary: String, explanation: String,
                      evidence: [String] = [], fixes: [String]) {
        result.checks.append(.init(layer: .clientFiles, id: id, status: .fail, summary: summary))
        if result.diagnosis == nil {
            result.diagnosis = Report.Diagnosis(code: code, layer: .clientFiles, summary: summary, explanation: explanation,
                                                evidence: evidence, fixes: fixes)
        }
    }

    static func describeMissing(_ file: File) -> String {
        var text = "\(file.path) does not exist"
        let parent = FilePath.deletingLastComponent(file.path)
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) { text += " (nor does the directory \(parent))" }
        if !file.named {
            text += "; it is libpq's default because the option was not given"
            if let home = file.home { text += " (home directory \(home.path), from \(home.source.rawValue): \(LibPQRules.homeRuleText()))" }
        }
        return text
    }

    /// Why the current user cannot read `path`, or nil if it can.
    static func unreadable(_ path: String) -> String? {
        guard access(path, R_OK) != 0 else { return nil }
        let reason = String(cString: strerror(errno))
        var status = stat()
        guard stat(path, &status) == 0 else { return "\(path): \(reason)" }
        let mode = String(status.st_mode & 0o7777, radix: 8).leftPadded(to: 4)
        return "\(path): \(reason) for \(currentUserName()) (uid \(geteuid())); the file belongs to \(userName(status.st_uid)) with mode \(mode)"
    }

    static func readableFixes(_ path: String) -> [String] {
        ["Make the file readable by \(currentUserName()): chown \(currentUserName()) \(path) (keys: chmod 600; certificates: chmod 644), and check every directory above it is searchable (ls -ld)."]
    }

    static func currentUserName() -> String { userName(geteuid()) }

    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
