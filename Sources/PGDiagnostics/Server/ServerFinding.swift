import PGConnect

/// One fact the server-side setup check found, in the server's order: postgresql.conf, the TLS
/// files as `be_tls_init()` loads them, what the certificates say, pg_hba.conf and pg_ident.conf as
/// `load_hba()`/`load_ident()` read them, and (with `--client-cert`) one login.
///
/// Findings are facts; ``ServerSetupExplainer`` decides what each means (its code, what the server
/// will do, the fix) and ``ServerSetupReport`` is built from that.
public enum ServerFinding: Sendable, Hashable {
    // MARK: postgresql.conf

    /// A problem reading postgresql.conf, an included file or postgresql.auto.conf.
    case configProblem(ServerConfiguration.Problem)

    /// `hba_file`/`ident_file` is a relative path: the server makes it absolute against the
    /// directory it was started from (`SelectConfigFiles()`), which the files do not say.
    case relativeAuthFilePath(setting: String, value: String, assumed: String)

    // MARK: TLS files (be_tls_init order)

    /// `ssl = off`: the server answers `N` to every SSLRequest.
    case sslOff(origin: String)
    /// `SSL_CTX_use_certificate_chain_file` would fail; `reason` is OpenSSL's (as the server prints it).
    case certificateLoadFailed(path: String, reason: String, cause: FileCause)
    /// `check_ssl_key_file_permissions()`: `stat` failed.
    case keyInaccessible(path: String, reason: String)
    /// `check_ssl_key_file_permissions()`: the key is a directory, device or FIFO.
    case keyNotRegularFile(path: String)
    /// `check_ssl_key_file_permissions()`: owned by neither the server's user nor root.
    case keyWrongOwner(path: String, status: ServerOSUser.FileStatus, serverUser: String)
    /// `check_ssl_key_file_permissions()`: group or world access beyond the rule.
    case keyPermissions(path: String, status: ServerOSUser.FileStatus, ownedByRoot: Bool)
    /// `SSL_CTX_use_PrivateKey_file` would fail (unreadable, not a key).
    case keyLoadFailed(path: String, reason: String, cause: FileCause)
    /// The key is encrypted. `command` is `ssl_passphrase_command` (empty when unset).
    case keyNeedsPassphrase(path: String, command: String, supportsReload: Bool)
    /// The key is not the certificate's: OpenSSL 3 finds that while loading the key (`could not load
    /// private key file "…": key values mismatch`), older ones in `SSL_CTX_check_private_key`
    /// (`check of private key failed: …`). `serverMessage` is the one this OpenSSL gives.
    case keyMismatch(certificate: String, key: String, serverMessage: String)
    /// `ssl_min_protocol_version` above `ssl_max_protocol_version`.
    case protocolRangeInvalid(minimum: String, maximum: String)
    /// `SSL_CTX_set_cipher_list` would fail.
    case ciphersInvalid(String)
    /// `OBJ_sn2nid` does not know `ssl_ecdh_curve`.
    case ecdhCurveInvalid(String)
    /// `SSL_CTX_load_verify_locations`/`SSL_load_client_CA_file` would fail for `ssl_ca_file`.
    case caFileLoadFailed(path: String, reason: String, cause: FileCause)
    /// `X509_STORE_load_locations` would fail for `ssl_crl_file`/`ssl_crl_dir`.
    case crlLoadFailed(file: String, directory: String, reason: String, cause: FileCause)

    // MARK: What the loaded files mean for clients

    /// The server's certificate (and its chain) loads.
    case certificateLoaded(path: String, chain: [CertificateInfo])
    /// The key loads and belongs to the certificate.
    case keyLoaded(path: String, description: String, status: ServerOSUser.FileStatus?)
    /// ssl_ca_file loads: the CAs client certificates must chain to.
    case caLoaded(path: String, certificates: [CertificateInfo])
    case serverCertificateExpired(CertificateInfo)
    case serverCertificateNotYetValid(CertificateInfo)
    case serverCertificateExpiring(CertificateInfo, days: Int)
    /// The server certificate is a CA; `trustedForClients`: ssl_ca_file holds it, so it signs client certificates.
    case serverCertificateIsCA(CertificateInfo, trustedForClients: Bool)
    case serverCertificateCNOnly(CertificateInfo)
    /// `--name HOST` is not a name libpq's verify-full accepts for the certificate.
    case serverNameMismatch(host: String, certificate: CertificateInfo, examined: [String])
    case serverNameMatches(host: String)
    /// No `ssl_ca_file`: the server never asks for a client certificate.
    case noCAFile
    /// A CA in ssl_ca_file whose issuer is not in it (OpenSSL does not accept partial chains).
    case caChainIncomplete(CertificateInfo)
    /// A CRL is set (CRL_CHECK_ALL) and no CRL of this CA is loaded: every client chain through it fails.
    case crlMissingForCA(CertificateInfo)
    /// A loaded CRL's nextUpdate has passed: chains through its CA fail.
    case crlExpired(issuer: String, nextUpdate: String)
    case crlsLoaded(count: Int, revoked: Int)
    /// The protocol range, cipher list and ECDH curve load.
    case tlsSettings(minimum: String, maximum: String, ciphers: String, curve: String)
    /// `ssl_min_protocol_version` allows TLS 1.0 or 1.1.
    case oldProtocolAllowed(String)

    // MARK: pg_hba.conf and pg_ident.conf

    /// A pg_hba.conf line the server rejects on load (or the file cannot be read).
    case hbaError(AuthFileError)
    /// A pg_ident.conf line the server rejects on load.
    case identError(AuthFileError)
    /// A line the simulator cannot evaluate exactly (the server accepts it).
    case authFileLimitation(AuthFileError)
    /// `hostssl` while `ssl = off`: the server loads the line and logs that it can never match.
    case hostsslWithoutSSL(HBARule, majorVersion: Int)
    /// A `cert`/`clientcert` line while no ssl_ca_file is loaded: logins on it fail.
    case certificateLineWithoutCA(HBARule)
    /// A line `map=` names a map pg_ident.conf has no line for.
    case mapMissing(HBARule, map: String)
    /// No pg_hba.conf line lets a client certificate log in (no `cert`, no `clientcert`).
    case noCertificateLine
    /// Lines that take certificate logins.
    case certificateLines([HBARule])
    /// An earlier line matches every connection this line would (`partially`: some of them).
    case lineShadowed(HBARule, by: HBARule, partially: Bool, reason: String)
    /// A certificate or password line open to every address.
    case anyAddress(HBARule)
    /// A pg_ident.conf map no pg_hba.conf line uses.
    case mapUnused(String, IdentMapping)
    /// A pg_ident.conf line that cannot match the certificate names the lines using its map compare.
    case mappingNeverMatches(IdentMapping, reason: String)
    /// A pg_ident.conf syntax a newer server needs (from ``AuthFileNote``).
    case authFileVersionNote(AuthFileNote, majorVersion: Int)

    // MARK: One login (--client-cert)

    case clientCertificateUnreadable(path: String, problem: String)
    /// The server's X509 verification of the client's chain against ssl_ca_file (and CRLs) fails.
    case clientChainRejected(CertificateInfo, error: Int32, depth: Int, reason: String, failedSubject: String)
    case clientChainVerified(CertificateInfo, chain: [String])
    /// The pg_hba.conf/pg_ident.conf simulation of the login.
    case loginSimulated(HBASimulator.Outcome, request: HBASimulator.Request)
    /// What only the running server knows about the role and database (`--admin`).
    case roleMissing(String)
    case roleCannotLogin(String)
    case databaseMissing(String)
    case connectDenied(role: String, database: String)

    // MARK: The running server (--admin)

    case adminConnectionFailed(String)
    case adminReadFailed(String)
    /// Settings whose file value the server has not applied yet (pg_file_settings / pg_settings).
    case pendingReload([PendingSetting])
    case pendingRestart([String])
    /// pg_hba.conf or pg_ident.conf changed after the server last loaded its configuration.
    case authFileChangedSinceReload(file: String)

    /// Why a file could not be used.
    public enum FileCause: Sendable, Hashable {
        case missing
        /// The server's OS user may not open it; `because` says which mode or directory denies it.
        case unreadable(because: String)
        /// OpenSSL cannot load it (not PEM, not a certificate or key, a directory).
        case invalid
        /// The OpenSSL security level refuses it (`ee key too small`, `ca md too weak`).
        case tooWeak
    }

    /// A setting the server runs with a different value than its files say.
    public struct PendingSetting: Sendable, Hashable {
        /// The setting.
        public var name: String
        /// The value the server runs with.
        public var running: String
        /// The value its files hold.
        public var inFiles: String
        /// Where the files set it.
        public var file: String?
        public var line: Int?
        /// Creates a pending setting.
        public init(name: String, running: String, inFiles: String, file: String?, line: Int?) {
            self.name = name
            self.running = running
            self.inFiles = inFiles
            self.file = file
            self.line = line
        }
    }
}
