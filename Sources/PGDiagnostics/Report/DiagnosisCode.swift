/// A stable identifier for why a login failed. The README documents each one; scripts match on
/// them, so a code, once published, keeps its meaning.
public struct DiagnosisCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // config
    public static let invalidConninfo = Self("invalid-conninfo")
    public static let unsupportedOption = Self("unsupported-option")
    // client-files
    public static let certFileMissing = Self("cert-file-missing")
    public static let keyFileMissing = Self("key-file-missing")
    public static let rootCertMissing = Self("root-cert-missing")
    public static let fileUnreadable = Self("file-unreadable")
    public static let keyPermissions = Self("key-permissions")
    public static let keyEncrypted = Self("key-encrypted")
    public static let keyCertMismatch = Self("key-cert-mismatch")
    public static let certUnparsable = Self("cert-unparsable")
    public static let clientCertExpired = Self("client-cert-expired")
    public static let clientCertNotYetValid = Self("client-cert-not-yet-valid")
    public static let clientCertWrongUsage = Self("client-cert-wrong-usage")
    public static let clientCertChainIncomplete = Self("client-cert-chain-incomplete")
    // network
    public static let hostUnresolved = Self("host-unresolved")
    public static let connectionRefused = Self("connection-refused")
    public static let timeout = Self("timeout")
    public static let sslNotSupported = Self("ssl-not-supported")
    // tls
    public static let serverCertUntrusted = Self("server-cert-untrusted")
    public static let serverNameMismatch = Self("server-name-mismatch")
    public static let serverCertExpired = Self("server-cert-expired")
    public static let serverCertRevoked = Self("server-cert-revoked")
    public static let clientCertUnknownCA = Self("client-cert-unknown-ca")
    public static let clientCertRevoked = Self("client-cert-revoked")
    public static let clientCertRejected = Self("client-cert-rejected")
    public static let tlsVersionMismatch = Self("tls-version-mismatch")
    // authentication
    public static let hbaNoEntry = Self("hba-no-entry")
    public static let hbaReject = Self("hba-reject")
    public static let passwordRequired = Self("password-required")
    public static let passwordFailed = Self("password-failed")
    public static let clientCertRequired = Self("client-cert-required")
    public static let certNameMismatch = Self("cert-name-mismatch")
    public static let identMapNoMatch = Self("ident-map-no-match")
    public static let serverNoCA = Self("server-no-ca")
    // authorization
    public static let roleMissing = Self("role-missing")
    public static let roleCannotLogin = Self("role-cannot-login")
    public static let databaseMissing = Self("database-missing")
    public static let connectDenied = Self("connect-denied")
    // any
    public static let unknown = Self("unknown")

    // The server's setup (`pgconnect-check server`).
    // config: postgresql.conf and the files it includes
    public static let serverConfigSyntaxError = Self("server-config-syntax-error")
    public static let serverConfigUnknownParameter = Self("server-config-unknown-parameter")
    public static let serverConfigInvalidValue = Self("server-config-invalid-value")
    public static let serverConfigFileMissing = Self("server-config-file-missing")
    // tls: the server's certificate, key, CA file and CRLs as be_tls_init() loads them
    public static let serverCertMissing = Self("server-cert-missing")
    public static let serverCertInvalid = Self("server-cert-invalid")
    public static let serverCertTooWeak = Self("server-cert-too-weak")
    public static let serverCertNotYetValid = Self("server-cert-not-yet-valid")
    public static let serverFileUnreadable = Self("server-file-unreadable")
    public static let serverKeyMissing = Self("server-key-missing")
    public static let serverKeyInvalid = Self("server-key-invalid")
    public static let serverKeyOwner = Self("server-key-owner")
    public static let serverKeyPermissions = Self("server-key-permissions")
    public static let serverKeyEncrypted = Self("server-key-encrypted")
    public static let serverKeyCertMismatch = Self("server-key-cert-mismatch")
    public static let serverTLSSettingInvalid = Self("server-tls-setting-invalid")
    public static let serverCAFileMissing = Self("server-ca-file-missing")
    public static let serverCAFileInvalid = Self("server-ca-file-invalid")
    public static let serverCRLMissing = Self("server-crl-missing")
    public static let serverCRLInvalid = Self("server-crl-invalid")
    public static let serverCRLIncomplete = Self("server-crl-incomplete")
    public static let serverCRLExpired = Self("server-crl-expired")
    // authentication: pg_hba.conf and pg_ident.conf as load_hba()/load_ident() read them
    public static let hbaInvalidLine = Self("hba-invalid-line")
    public static let identInvalidLine = Self("ident-invalid-line")
    public static let hbaLineNeverMatches = Self("hba-line-never-matches")
    public static let hbaNoCertLine = Self("hba-no-cert-line")
    public static let identMapMissing = Self("ident-map-missing")
    // network: the --admin connection
    public static let adminConnectionFailed = Self("admin-connection-failed")
}

/// A stable identifier for a risk in a login that works.
public struct WarningCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let sslmodeUnverified = Self("sslmode-unverified")
    public static let clientCertExpiring = Self("client-cert-expiring")
    public static let serverCertExpiring = Self("server-cert-expiring")
    public static let serverCertIsCA = Self("server-cert-is-ca")
    public static let serverCertCNOnly = Self("server-cert-cn-only")
    public static let defaultFileUsed = Self("default-file-used")
    /// libpq 18's sslkeylogfile writes this connection's TLS secrets to a file.
    public static let tlsKeysLogged = Self("tls-keys-logged")
    public static let plaintextFallback = Self("plaintext-fallback")
    /// libpq's own attempt contradicted a local prediction (the files predicted a failure and
    /// libpq connected, or failed differently): libpq's result stands; the prediction was a bug.
    public static let predictionContradicted = Self("prediction-contradicted")

    // The server's setup (`pgconnect-check server`).
    /// An earlier pg_hba.conf line takes every connection (or some addresses) of a later one.
    public static let hbaLineShadowed = Self("hba-line-shadowed")
    /// A pg_hba.conf line open to every address (`0.0.0.0/0`, `::/0`, `all`).
    public static let hbaAnyAddress = Self("hba-any-address")
    /// A pg_ident.conf map no pg_hba.conf line uses.
    public static let identMapUnused = Self("ident-map-unused")
    /// A pg_ident.conf line that cannot match the certificate names compared through its map.
    public static let identMapNeverMatches = Self("ident-map-never-matches")
    /// ssl_ca_file holds an intermediate CA without its root.
    public static let serverCAChainIncomplete = Self("server-ca-chain-incomplete")
    /// An encrypted server key whose ssl_passphrase_command does not run on reload.
    public static let serverKeyReloadNeedsPassphrase = Self("server-key-reload-needs-passphrase")
    /// ssl_min_protocol_version allows TLS 1.0 or 1.1.
    public static let tlsOldProtocol = Self("tls-old-protocol")
    /// The running server has not applied settings its files hold (`--admin`).
    public static let serverSettingsPendingReload = Self("server-settings-pending-reload")
    public static let serverSettingsPendingRestart = Self("server-settings-pending-restart")
    /// pg_hba.conf or pg_ident.conf changed after the running server last loaded them (`--admin`).
    public static let authFileChanged = Self("auth-file-changed")
    /// A line the simulation cannot evaluate exactly, or syntax the server's version reads differently.
    public static let authFileNote = Self("auth-file-note")
}
