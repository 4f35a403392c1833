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
}
