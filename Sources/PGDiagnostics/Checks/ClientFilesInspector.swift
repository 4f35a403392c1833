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
///
/// The inspection only gathers facts: ``Result/findings``, in libpq's order, and the files and
/// certificates it read. ``ClientFilesExplainer`` turns them into the checks, the diagnosis and
/// the warnings of the report.
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

        public init(path: String, named: Bool, exists: Bool, home: LibPQRules.HomeDirectory? = nil) {
            self.path = path
            self.named = named
            self.exists = exists
            self.home = home
        }
    }

    /// Which of libpq's files a finding is about.
    public enum Role: String, Sendable, Hashable {
        case rootCertificate = "sslrootcert"
        case certificate = "sslcert"
        case key = "sslkey"
        case crl = "sslcrl"
    }

    /// What `stat` said about the key file: the facts libpq's permission rule reads.
    public struct KeyStatus: Sendable, Hashable {
        /// The permission bits (`st_mode & 0o7777`).
        public var mode: mode_t
        /// The owner's uid and user name (`uid N` when it has no passwd entry).
        public var owner: uid_t
        public var ownerName: String
        /// Whether root owns it (libpq then allows 0640).
        public var ownerIsRoot: Bool { owner == 0 }

        public init(mode: mode_t, owner: uid_t, ownerName: String) {
            self.mode = mode
            self.owner = owner
            self.ownerName = ownerName
        }
    }

    /// The OS user the files were inspected as (the user libpq runs as).
    public struct Reader: Sendable, Hashable {
        public var uid: uid_t
        public var name: String

        public init(uid: uid_t, name: String) {
            self.uid = uid
            self.name = name
        }

        /// This process's effective user.
        public static func current() -> Reader { Reader(uid: geteuid(), name: ClientFilesInspector.currentUserName()) }
    }

    /// One thing the inspection found about one file, in libpq's order. Findings are facts;
    /// ``ClientFilesExplainer`` decides what each means for the login.
    public enum Finding: Sendable, Hashable {
        /// `sslmode=disable`: libpq uses no certificate file.
        case tlsDisabled
        /// The option was not given and libpq has no home directory for the default file.
        case noDefault(Role)
        /// `sslrootcert=system` (libpq 16 and later): the operating system's trusted CAs.
        case systemRoots
        /// The file does not exist; `missingDirectory` is its directory when that does not exist either.
        case missing(Role, File, missingDirectory: String?)
        /// `stat` failed for another reason than a missing file (`strerror`).
        case cannotOpen(Role, File, reason: String)
        /// The file exists but cannot be read as a certificate file by the ``Result/reader``.
        case unreadable(Role, File, problem: String)
        /// OpenSSL found no PEM certificate in it.
        case notPEM(Role, File, opensslError: String?)
        /// The root certificate file's CA certificates (``Result/rootCertificates``).
        case rootCertificatesLoaded(File, count: Int)
        /// The client certificate (the leaf of ``Result/clientChain``) has expired.
        case certificateExpired(File, CertificateInfo)
        /// The client certificate's validity starts in the future.
        case certificateNotYetValid(File, CertificateInfo)
        /// The client certificate's extendedKeyUsage lists purposes, not clientAuth.
        case certificateWrongUsage(File, CertificateInfo)
        /// The client certificate expires within the inspector's ``ClientFilesInspector/expiryWarningDays``.
        case certificateExpiresSoon(File, CertificateInfo, days: Int)
        /// The client certificate libpq will send.
        case certificateLoaded(File, CertificateInfo)
        /// `sslkey` names an OpenSSL engine key (`engine:key`): libpq asks the engine, nothing to check here.
        case keyFromEngine(File)
        /// The key is a directory, device or socket.
        case keyNotRegularFile(File)
        /// The key's mode has bits libpq's rule forbids (``LibPQRules/forbiddenKeyModeBits(ownerIsRoot:)``).
        case keyPermissions(File, KeyStatus)
        /// The key's mode is strict enough, but the ``Result/reader`` cannot read it.
        case keyUnreadable(File, KeyStatus, problem: String)
        /// The key is encrypted and no sslpassword was given.
        case keyNeedsPassphrase(File, KeyStatus)
        /// The sslpassword given does not decrypt the key (OpenSSL's reason).
        case keyWrongPassphrase(File, KeyStatus, reason: String)
        /// Neither PEM nor DER private key (OpenSSL's reason).
        case keyNotAKey(File, KeyStatus, reason: String)
        /// The key is not the certificate's (``Result/certificate``).
        case keyMismatch(File, KeyStatus)
        /// The key opens and belongs to the certificate.
        case keyLoaded(File, KeyStatus, encrypted: Bool)
        /// The `sslcrl` file named does not exist (libpq ignores it silently).
        case crlMissing(path: String)
    }

    /// What the inspection found.
    public struct Result: Sendable {
        /// The sslmode the files were inspected for.
        public var sslmode = SSLMode.prefer
        /// The OS user the files were inspected as.
        public var reader = Reader.current()
        /// What was found, file by file, in libpq's order.
        public var findings: [Finding] = []
        public var rootCertificate: File?
        public var certificate: File?
        public var key: File?
        /// The certificates in the client certificate file, leaf first.
        public var clientChain: [CertificateInfo] = []
        /// The CA certificates in the root certificate file.
        public var rootCertificates: [CertificateInfo] = []
        /// Whether libpq will send a client certificate.
        public var sendsCertificate: Bool { !clientChain.isEmpty }

        public init(sslmode: SSLMode = .prefer, reader: Reader = .current(), findings: [Finding] = []) {
            self.sslmode = sslmode
            self.reader = reader
            self.findings = findings
        }

        /// One check per file, in libpq's order (see ``ClientFilesExplainer``).
        public var checks: [Report.Check] { ClientFilesExplainer().explain(self).checks }
        /// The first problem that makes the login impossible, in libpq's order.
        public var diagnosis: Report.Diagnosis? { ClientFilesExplainer().explain(self).diagnosis }
        public var warnings: [Report.Warning] { ClientFilesExplainer().explain(self).warnings }
    }

    /// Inspects the files `options` (after libpq's environment and defaults) points at.
    public func inspect(_ options: ConnectionOptions) -> Result { inspect(ResolvedTarget(options)) }

    /// Inspects the files of a resolved login.
    public func inspect(_ target: ResolvedTarget) -> Result {
        let effective = target.effective
        var result = Result(sslmode: target.sslmode)
        if target.sslmode == .disable {
            result.findings.append(.tlsDisabled)
            return result
        }
        let home = target.files.home
        func resolve(_ file: LibPQFiles.File?) -> File? {
            file.map { File(path: $0.path, named: $0.named, exists: FileManager.default.fileExists(atPath: $0.path), home: $0.named ? nil : home) }
        }

        inspectRoot(resolve(target.files.rootCertificate), into: &result)
        let certificate = inspectCertificate(resolve(target.files.certificate), into: &result)
        if let certificate {
            inspectKey(resolve(target.files.key), certificate: certificate,
                       passphrase: effective.sslpassword.flatMap { $0.isEmpty ? nil : $0 }, into: &result)
        }
        if let crl = effective["sslcrl"], !crl.isEmpty, !FileManager.default.fileExists(atPath: crl) {
            result.findings.append(.crlMissing(path: crl))
        }
        return result
    }

    // MARK: Root certificate

    private func inspectRoot(_ file: File?, into result: inout Result) {
        guard let file else {
            result.findings.append(.noDefault(.rootCertificate))
            return
        }
        if LibPQRules.systemRootsSupported(), file.named, file.path == "system" {
            result.findings.append(.systemRoots)
            return
        }
        result.rootCertificate = file
        guard file.exists else {
            result.findings.append(.missing(.rootCertificate, file, missingDirectory: Self.missingDirectory(of: file.path)))
            return
        }
        if let problem = FileInspector.readableProblem(file.path) {
            result.findings.append(.unreadable(.rootCertificate, file, problem: problem))
            return
        }
        let (certificates, error) = PEMFile.certificates(atPath: file.path)
        guard !certificates.isEmpty else {
            result.findings.append(.notPEM(.rootCertificate, file, opensslError: error))
            return
        }
        result.rootCertificates = certificates.map(\.info)
        result.findings.append(.rootCertificatesLoaded(file, count: certificates.count))
    }

    // MARK: Client certificate

    private func inspectCertificate(_ file: File?, into result: inout Result) -> X509Certificate? {
        guard let file else {
            result.findings.append(.noDefault(.certificate))
            return nil
        }
        result.certificate = file
        var status = stat()
        if stat(file.path, &status) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                result.findings.append(.missing(.certificate, file, missingDirectory: Self.missingDirectory(of: file.path)))
            } else {
                result.findings.append(.cannotOpen(.certificate, file, reason: String(cString: strerror(code))))
            }
            return nil
        }
        if let problem = FileInspector.readableProblem(file.path) {
            result.findings.append(.unreadable(.certificate, file, problem: problem))
            return nil
        }
        let (certificates, error) = PEMFile.certificates(atPath: file.path)
        guard let leaf = certificates.first else {
            result.findings.append(.notPEM(.certificate, file, opensslError: error))
            return nil
        }
        result.clientChain = certificates.map(\.info)
        let info = leaf.info
        let now = Date()
        if let notAfter = info.notAfter, notAfter < now {
            result.findings.append(.certificateExpired(file, info))
        } else if let notBefore = info.notBefore, notBefore > now {
            result.findings.append(.certificateNotYetValid(file, info))
        } else if !info.extendedKeyUsage.isEmpty, !info.extendedKeyUsage.contains("clientAuth") {
            result.findings.append(.certificateWrongUsage(file, info))
        } else {
            if let notAfter = info.notAfter, notAfter.timeIntervalSince(now) < Double(expiryWarningDays) * 86400 {
                result.findings.append(.certificateExpiresSoon(file, info, days: Int(notAfter.timeIntervalSince(now) / 86400)))
            }
            result.findings.append(.certificateLoaded(file, info))
        }
        return leaf
    }

    // MARK: Key

    private func inspectKey(_ file: File?, certificate: X509Certificate, passphrase: String?, into result: inout Result) {
        guard let file else {
            result.findings.append(.noDefault(.key))
            return
        }
        result.key = file
        if file.named, file.path.contains(":"), !file.exists {  // engine:key syntax; libpq asks the engine
            result.findings.append(.keyFromEngine(file))
            return
        }
        var status = stat()
        if stat(file.path, &status) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                result.findings.append(.missing(.key, file, missingDirectory: Self.missingDirectory(of: file.path)))
            } else {
                result.findings.append(.cannotOpen(.key, file, reason: String(cString: strerror(code))))
            }
            return
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            result.findings.append(.keyNotRegularFile(file))
            return
        }
        let key = KeyStatus(mode: status.st_mode & 0o7777, owner: status.st_uid, ownerName: Self.userName(status.st_uid))
        if key.mode & LibPQRules.forbiddenKeyModeBits(ownerIsRoot: key.ownerIsRoot) != 0 {
            result.findings.append(.keyPermissions(file, key))
            return
        }
        if let problem = FileInspector.readableProblem(file.path) {
            result.findings.append(.keyUnreadable(file, key, problem: problem))
            return
        }
        switch PEMFile.privateKey(atPath: file.path, passphrase: passphrase) {
        case .needsPassphrase:
            result.findings.append(.keyNeedsPassphrase(file, key))
        case .wrongPassphrase(let reason):
            result.findings.append(.keyWrongPassphrase(file, key, reason: reason))
        case .unparsable(let reason):
            result.findings.append(.keyNotAKey(file, key, reason: reason))
        case .loaded(let privateKey, let encrypted):
            result.findings.append(PEMFile.matches(certificate, privateKey) ? .keyLoaded(file, key, encrypted: encrypted) : .keyMismatch(file, key))
        }
    }

    // MARK: Helpers

    /// The directory of `path` when it does not exist either.
    static func missingDirectory(of path: String) -> String? {
        let parent = FilePath.deletingLastComponent(path)
        return !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) ? parent : nil
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
