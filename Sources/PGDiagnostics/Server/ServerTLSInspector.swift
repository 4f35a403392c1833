import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@_spi(OpenSSL) import PGConnect

/// The server's TLS files, loaded as `be_tls_init()` (be-secure-openssl.c, PostgreSQL 13–17)
/// loads them, with the same OpenSSL calls in the same order, so the first failure is the one the
/// server logs, worded as it words it (`SSLerrmessage()`: OpenSSL's reason, or `strerror` for a
/// system error). What OpenSSL cannot see from here — the server reads the files as its own OS
/// user — is decided first from the file modes (``ServerOSUser``), and the key's permission rule
/// is `check_ssl_key_file_permissions()` (be-secure-common.c).
///
/// The server stops at the first failure; this inspection goes on where the later files do not
/// depend on the earlier ones, so one run lists every file to fix.
struct ServerTLSInspector {
    var configuration: ServerConfiguration
    var user: ServerOSUser
    var hostNames: [String]
    var expiryWarningDays: Int
    var now: Date

    /// What the inspection found, and the CA certificates a client chain is verified against.
    struct Result {
        var findings: [ServerFinding] = []
        var sslEnabled = false
        /// Whether the TLS context loads (the server starts with SSL, or a reload takes it).
        var loads = false
        var caCertificates: [CertificateInfo] = []
        var serverChain: [CertificateInfo] = []
    }

    /// A path as the server opens it: relative to the data directory (the server's working directory).
    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : AuthFilePath.join(configuration.dataDirectory, path)
    }

    func inspect() -> Result {
        var result = Result()
        guard configuration.bool("ssl") == true else {
            result.findings.append(.sslOff(origin: configuration.origin("ssl")))
            return result
        }
        result.sslEnabled = true
        _ = OPENSSL_init_ssl(pgc_OPENSSL_INIT_LOAD_CONFIG(), nil)
        guard let context = SSL_CTX_new(TLS_method()) else { return result }
        defer { SSL_CTX_free(context) }
        let settings = { (name: String) in configuration.value(name) ?? "" }
        var failed = false

        // The server certificate (and its chain), as SSL_CTX_use_certificate_chain_file reads it.
        let certificatePath = settings("ssl_cert_file")
        var certificateLoaded = false
        if let problem = fileProblem(certificatePath) {
            result.findings.append(.certificateLoadFailed(path: certificatePath, reason: problem.reason, cause: problem.cause))
            failed = true
        } else {
            ERR_clear_error()
            if SSL_CTX_use_certificate_chain_file(context, absolute(certificatePath)) != 1 {
                let (reason, code) = Self.errorMessage()
                result.findings.append(.certificateLoadFailed(path: certificatePath, reason: reason,
                                                              cause: Self.isSecurityLevelError(code) ? .tooWeak : .invalid))
                failed = true
            } else {
                certificateLoaded = true
                result.serverChain = PEMFile.certificates(atPath: absolute(certificatePath)).certificates.map(\.info)
                result.findings.append(.certificateLoaded(path: certificatePath, chain: result.serverChain))
            }
        }

        // The key: permissions first (check_ssl_key_file_permissions), then OpenSSL.
        let keyPath = settings("ssl_key_file")
        var keyLoaded = false
        var keyDescription: String?
        var keyStatus: ServerOSUser.FileStatus?
        switch ServerOSUser.status(absolute(keyPath)) {
        case .failure(let error):
            result.findings.append(.keyInaccessible(path: keyPath, reason: error.text))
            failed = true
        case .success(let status):
            keyStatus = status
            if !status.isRegularFile {
                result.findings.append(.keyNotRegularFile(path: keyPath))
                failed = true
            } else if status.owner != user.uid && status.owner != 0 {
                result.findings.append(.keyWrongOwner(path: keyPath, status: status, serverUser: user.name))
                failed = true
            } else if status.owner == 0 ? status.mode & (S_IWGRP | S_IXGRP | S_IRWXO) != 0 : status.mode & (S_IRWXG | S_IRWXO) != 0 {
                result.findings.append(.keyPermissions(path: keyPath, status: status, ownedByRoot: status.owner == 0 && user.uid != 0))
                failed = true
            } else if let problem = user.readProblem(absolute(keyPath)) {
                result.findings.append(.keyLoadFailed(path: keyPath, reason: AuthFileReader.errorText(EACCES),
                                                      cause: .unreadable(because: problem)))
                failed = true
            } else {
                let asked = PassphraseProbe()
                let unmanaged = Unmanaged.passRetained(asked)
                defer { unmanaged.release() }
                SSL_CTX_set_default_passwd_cb(context) { _, _, _, userdata in
                    if let userdata { Unmanaged<PassphraseProbe>.fromOpaque(userdata).takeUnretainedValue().asked = true }
                    return 0
                }
                SSL_CTX_set_default_passwd_cb_userdata(context, unmanaged.toOpaque())
                ERR_clear_error()
                if SSL_CTX_use_PrivateKey_file(context, absolute(keyPath), SSL_FILETYPE_PEM) != 1 {
                    if asked.asked {
                        result.findings.append(.keyNeedsPassphrase(path: keyPath, command: settings("ssl_passphrase_command"),
                                                                   supportsReload: configuration.bool("ssl_passphrase_command_supports_reload") == true))
                        if settings("ssl_passphrase_command").isEmpty { failed = true }
                    } else {
                        let (reason, code) = Self.errorMessage()
                        if ERR_GET_LIB(code) == ERR_LIB_X509, ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH {
                            result.findings.append(.keyMismatch(certificate: certificatePath, key: keyPath,
                                                                serverMessage: "could not load private key file \"\(keyPath)\": \(reason)"))
                        } else {
                            result.findings.append(.keyLoadFailed(path: keyPath, reason: reason, cause: .invalid))
                        }
                        failed = true
                    }
                } else {
                    keyLoaded = true
                    keyDescription = SSL_CTX_get0_privatekey(context).map { FileInspector.describeKey($0) }
                }
                SSL_CTX_set_default_passwd_cb(context, nil)
                SSL_CTX_set_default_passwd_cb_userdata(context, nil)
            }
        }
        if certificateLoaded && keyLoaded {
            ERR_clear_error()
            if SSL_CTX_check_private_key(context) != 1 {
                result.findings.append(.keyMismatch(certificate: certificatePath, key: keyPath,
                                                    serverMessage: "check of private key failed: \(Self.errorMessage().text)"))
                failed = true
                keyDescription = nil
            }
        }
        if let keyDescription, certificateLoaded {
            result.findings.append(.keyLoaded(path: keyPath, description: keyDescription, status: keyStatus))
        }

        // Protocol range, ciphers, ECDH curve.
        let minimum = settings("ssl_min_protocol_version"), maximum = settings("ssl_max_protocol_version")
        if let low = ServerSettings.protocolNumber(minimum), let high = ServerSettings.protocolNumber(maximum), low > high {
            result.findings.append(.protocolRangeInvalid(minimum: minimum, maximum: maximum))
            failed = true
        }
        if let low = ServerSettings.protocolNumber(minimum), low < 0x0303 {
            result.findings.append(.oldProtocolAllowed(minimum))
        }
        ERR_clear_error()
        if SSL_CTX_set_cipher_list(context, settings("ssl_ciphers")) != 1 {
            result.findings.append(.ciphersInvalid(settings("ssl_ciphers")))
            failed = true
        }
        ERR_clear_error()
        if OBJ_sn2nid(settings("ssl_ecdh_curve")) == 0 {
            result.findings.append(.ecdhCurveInvalid(settings("ssl_ecdh_curve")))
            failed = true
        }

        let settingsFailed = result.findings.contains {
            switch $0 {
            case .protocolRangeInvalid, .ciphersInvalid, .ecdhCurveInvalid: return true
            default: return false
            }
        }
        if !settingsFailed {
            result.findings.append(.tlsSettings(minimum: minimum, maximum: maximum, ciphers: settings("ssl_ciphers"), curve: settings("ssl_ecdh_curve")))
        }

        // ssl_ca_file: the CAs client certificates must chain to, and the names sent in CertificateRequest.
        let caPath = settings("ssl_ca_file")
        if caPath.isEmpty {
            result.findings.append(.noCAFile)
        } else if let problem = fileProblem(caPath) {
            result.findings.append(.caFileLoadFailed(path: caPath, reason: problem.reason, cause: problem.cause))
            failed = true
        } else {
            ERR_clear_error()
            var ok = SSL_CTX_load_verify_locations(context, absolute(caPath), nil) == 1
            if ok {
                if let names = SSL_load_client_CA_file(absolute(caPath)) { pgc_sk_X509_NAME_pop_free(names) } else { ok = false }
            }
            if !ok {
                result.findings.append(.caFileLoadFailed(path: caPath, reason: Self.errorMessage().text, cause: .invalid))
                failed = true
            } else {
                result.caCertificates = PEMFile.certificates(atPath: absolute(caPath)).certificates.map(\.info)
                result.findings.append(.caLoaded(path: caPath, certificates: result.caCertificates))
            }
        }

        // CRLs, checked against every CA (X509_V_FLAG_CRL_CHECK_ALL).
        let crlFile = settings("ssl_crl_file"), crlDirectory = settings("ssl_crl_dir")
        if !crlFile.isEmpty || !crlDirectory.isEmpty {
            var problem: (reason: String, cause: ServerFinding.FileCause)?
            if !crlFile.isEmpty { problem = fileProblem(crlFile) }
            if problem == nil, !crlDirectory.isEmpty, let denied = user.readProblem(absolute(crlDirectory), directory: true) {
                problem = (AuthFileReader.errorText(EACCES), .unreadable(because: denied))
            }
            if let problem {
                result.findings.append(.crlLoadFailed(file: crlFile, directory: crlDirectory, reason: problem.reason, cause: problem.cause))
                failed = true
            } else if let store = SSL_CTX_get_cert_store(context) {
                ERR_clear_error()
                if X509_STORE_load_locations(store, crlFile.isEmpty ? nil : absolute(crlFile),
                                             crlDirectory.isEmpty ? nil : absolute(crlDirectory)) != 1 {
                    result.findings.append(.crlLoadFailed(file: crlFile, directory: crlDirectory, reason: Self.errorMessage().text,
                                                          cause: .invalid))
                    failed = true
                } else {
                    result.findings += crlCoverage(file: crlFile.isEmpty ? nil : absolute(crlFile),
                                                   directory: crlDirectory.isEmpty ? nil : absolute(crlDirectory),
                                                   authorities: PEMFile.certificates(atPath: absolute(caPath)).certificates)
                }
            }
        }

        result.loads = !failed
        if certificateLoaded, let leaf = result.serverChain.first {
            result.findings += certificateFacts(leaf, caCertificates: result.caCertificates)
        }
        if !caPath.isEmpty, !result.caCertificates.isEmpty {
            result.findings += chainCompleteness(result.caCertificates)
        }
        return result
    }

    /// What clients meet on a running server whose TLS files were copied here (`--admin`, through
    /// `pg_read_file`): the certificate's facts, the CAs, CRL coverage. The key is never read.
    func inspectCopies(certificate: String?, certificateName: String, caFile: String?, caName: String, crlFile: String?) -> Result {
        var result = Result()
        result.sslEnabled = true
        result.loads = true
        if let caFile { result.caCertificates = PEMFile.certificates(atPath: caFile).certificates.map(\.info) }
        if let certificate {
            result.serverChain = PEMFile.certificates(atPath: certificate).certificates.map(\.info)
            if let leaf = result.serverChain.first {
                result.findings.append(.certificateLoaded(path: certificateName, chain: result.serverChain))
                result.findings += certificateFacts(leaf, caCertificates: result.caCertificates)
            }
        }
        if caFile != nil { result.findings.append(.caLoaded(path: caName, certificates: result.caCertificates)) }
        if caFile == nil && caName.isEmpty { result.findings.append(.noCAFile) }
        if let crlFile, let caFile {
            result.findings += crlCoverage(file: crlFile, directory: nil, authorities: PEMFile.certificates(atPath: caFile).certificates)
        }
        if !result.caCertificates.isEmpty { result.findings += chainCompleteness(result.caCertificates) }
        return result
    }

    // MARK: Files as the server's user sees them

    /// Why the server's user cannot open `path` (missing, not searchable/readable), in the words
    /// `SSLerrmessage()` gives a system error; nil when it can.
    func fileProblem(_ path: String) -> (reason: String, cause: ServerFinding.FileCause)? {
        let full = absolute(path)
        switch ServerOSUser.status(full) {
        case .failure(let error):
            return (error.text, error.isMissing ? .missing : .unreadable(because: error.text))
        case .success(let status):
            if status.isDirectory { return (AuthFileReader.errorText(EISDIR), .invalid) }
        }
        if let denied = user.readProblem(full) {
            return (AuthFileReader.errorText(EACCES), .unreadable(because: denied))
        }
        return nil
    }

    /// `SSLerrmessage(ERR_get_error())`: the reason of the oldest queued error, or `strerror` for a
    /// system error (OpenSSL 3 no longer maps those); the queue is cleared.
    static func errorMessage() -> (text: String, code: UInt) {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return ("no SSL error reported", 0) }
        if let reason = ERR_reason_error_string(code) { return (String(cString: reason), code) }
        if pgc_ERR_SYSTEM_ERROR(code) != 0 { return (AuthFileReader.errorText(Int32(ERR_GET_REASON(code))), code) }
        return ("SSL error code \(code)", code)
    }

    /// OpenSSL's security-level refusals of a certificate (`ee key too small`, `ca md too weak`, …).
    static func isSecurityLevelError(_ code: UInt) -> Bool {
        guard ERR_GET_LIB(code) == ERR_LIB_SSL else { return false }
        let reason = ERR_GET_REASON(code)
        return [SSL_R_EE_KEY_TOO_SMALL, SSL_R_CA_KEY_TOO_SMALL, SSL_R_CA_MD_TOO_WEAK].contains(reason)
    }

    // MARK: What clients will meet

    func certificateFacts(_ leaf: CertificateInfo, caCertificates: [CertificateInfo]) -> [ServerFinding] {
        var findings: [ServerFinding] = []
        if let notAfter = leaf.notAfter, notAfter < now {
            findings.append(.serverCertificateExpired(leaf))
        } else if let notBefore = leaf.notBefore, notBefore > now {
            findings.append(.serverCertificateNotYetValid(leaf))
        } else if let notAfter = leaf.notAfter, notAfter.timeIntervalSince(now) < Double(expiryWarningDays) * 86400 {
            findings.append(.serverCertificateExpiring(leaf, days: Int(notAfter.timeIntervalSince(now) / 86400)))
        }
        if leaf.isCA {
            findings.append(.serverCertificateIsCA(leaf, trustedForClients: caCertificates.contains { $0.sha256Fingerprint == leaf.sha256Fingerprint }))
        }
        if !leaf.subjectAlternativeNames.contains(where: { $0.hasPrefix("DNS:") || $0.hasPrefix("IP:") }) {
            findings.append(.serverCertificateCNOnly(leaf))
        }
        for host in hostNames {
            let outcome = HostnameMatcher.check(host: host, certificate: leaf)
            findings.append(outcome.matches ? .serverNameMatches(host: host)
                                            : .serverNameMismatch(host: host, certificate: leaf, examined: outcome.examined))
        }
        return findings
    }

    /// CAs in ssl_ca_file whose issuer is not there too: OpenSSL builds chains to a self-signed
    /// root only (no X509_V_FLAG_PARTIAL_CHAIN), so certificates under them fail.
    func chainCompleteness(_ authorities: [CertificateInfo]) -> [ServerFinding] {
        authorities.filter { ca in
            !ca.isSelfSigned && !authorities.contains { $0.subject == ca.issuer && $0.sha256Fingerprint != ca.sha256Fingerprint }
        }.map { .caChainIncomplete($0) }
    }

    /// With CRL checking every CA of a chain needs a CRL (X509_V_FLAG_CRL_CHECK_ALL), and an expired
    /// CRL fails every chain through its issuer.
    func crlCoverage(file: String?, directory: String?, authorities: [X509Certificate]) -> [ServerFinding] {
        var crls: [CRL] = []
        if let file { crls += CRL.read(file) }
        if let directory, let dir = opendir(directory) {
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name.hasPrefix(".") { continue }
                crls += CRL.read(AuthFilePath.join(directory, name))
            }
        }
        var findings: [ServerFinding] = [.crlsLoaded(count: crls.count, revoked: crls.map(\.revokedCount).reduce(0, +))]
        for authority in authorities {
            let issued = crls.filter { X509_NAME_cmp($0.issuerName, X509_get_subject_name(authority.pointer)) == 0 }
            if issued.isEmpty {
                findings.append(.crlMissingForCA(authority.info))
            }
        }
        for crl in crls {
            if let next = crl.nextUpdate, next < now {
                findings.append(.crlExpired(issuer: crl.issuer, nextUpdate: CertificateInfo.iso8601(next)))
            }
        }
        return findings
    }
}

/// Whether OpenSSL asked for a key passphrase (the server's `dummy_ssl_passwd_cb` on reload).
private final class PassphraseProbe {
    var asked = false
}

/// An `X509_CRL` this module owns; freed exactly once, in `deinit`.
final class CRL {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_CRL_free(pointer) }

    var issuerName: OpaquePointer? { X509_CRL_get_issuer(pointer) }
    var issuer: String { CertificateInfo.name(X509_CRL_get_issuer(pointer)) }
    var nextUpdate: Date? { CRL.date(X509_CRL_get0_nextUpdate(pointer)) }
    var revokedCount: Int { X509_CRL_get_REVOKED(pointer).map { Int(pgc_sk_X509_REVOKED_num($0)) } ?? 0 }

    /// Every CRL in a PEM file (none when it holds none).
    static func read(_ path: String) -> [CRL] {
        defer { ERR_clear_error() }
        guard let bio = BIO_new_file(path, "r") else { return [] }
        defer { BIO_free(bio) }
        var crls: [CRL] = []
        while let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) { crls.append(CRL(crl)) }
        return crls
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
