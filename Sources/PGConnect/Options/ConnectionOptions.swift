/// Connection parameters for libpq, as typed fields over libpq's own keywords.
///
/// `ConnectionOptions` is a value: it stores each keyword's value exactly as given and
/// renders it back as a conninfo string or URI that libpq parses to the same values. Typed
/// properties cover the keywords a certificate login needs; any other keyword the linked
/// libpq knows is reachable through ``subscript(_:)``.
///
/// ```swift
/// var options = try ConnectionOptions(conninfo: "host=db.internal dbname=app")
/// options.user = "app"
/// options.sslmode = .verifyFull
/// options.sslcert = "/etc/app/client.crt"
/// options.sslkey = "/etc/app/client.key"
/// options.sslrootcert = "/etc/app/root.crt"
/// ```
///
/// Empty values are kept as given (`sslcert=''` means "libpq's default file" to libpq); when
/// connecting, an empty value is treated as unset, as `PQconnectStartParams` does.
public struct ConnectionOptions: Sendable, Hashable {
    /// Keyword → value, exactly as given. Rendering orders keywords as libpq lists them.
    public internal(set) var values: [String: String]

    /// Options with no keyword set: libpq's environment variables and defaults apply.
    public init() { values = [:] }

    /// Options from keyword/value pairs; the keywords are checked when rendered or connected.
    public init(_ values: [String: String]) { self.values = values }

    /// The value of any libpq keyword, or `nil` when unset. Setting `nil` removes it.
    public subscript(keyword: String) -> String? {
        get { values[keyword] }
        set { values[keyword] = newValue }
    }

    /// The keywords that are set, in libpq's order.
    public var keywords: [String] {
        values.keys.sorted { lhs, rhs in
            let (l, r) = (LibPQKeywords.linked.order(of: lhs), LibPQKeywords.linked.order(of: rhs))
            return l != r ? l < r : lhs < rhs
        }
    }

    /// Keyword/value pairs in libpq's order.
    public var pairs: [(keyword: String, value: String)] { keywords.map { ($0, values[$0]!) } }

    // MARK: Typed fields

    /// `host`: host names, IP addresses or socket directories, tried in order.
    public var host: [String] {
        get { list("host") }
        set { setList("host", newValue) }
    }

    /// `hostaddr`: numeric addresses matching `host` entry by entry (skips DNS).
    public var hostaddr: [String] {
        get { list("hostaddr") }
        set { setList("hostaddr", newValue) }
    }

    /// `port`: one port, or one per host.
    public var port: [Int] {
        get { list("port").compactMap { Int($0) } }
        set { setList("port", newValue.map(String.init)) }
    }

    /// `dbname`: the database to connect to.
    public var dbname: String? { get { values["dbname"] } set { values["dbname"] = newValue } }
    /// `user`: the PostgreSQL role to log in as.
    public var user: String? { get { values["user"] } set { values["user"] = newValue } }
    /// `password`: a secret; never rendered by ``redactedConninfo``.
    public var password: String? { get { values["password"] } set { values["password"] = newValue } }
    /// `sslmode`: how much TLS protection to insist on.
    public var sslmode: SSLMode? {
        get { values["sslmode"].flatMap(SSLMode.init(rawValue:)) }
        set { values["sslmode"] = newValue?.rawValue }
    }
    /// `sslcert`: the client certificate file (PEM), optionally followed by its chain.
    public var sslcert: String? { get { values["sslcert"] } set { values["sslcert"] = newValue } }
    /// `sslkey`: the client certificate's private key file.
    public var sslkey: String? { get { values["sslkey"] } set { values["sslkey"] = newValue } }
    /// `sslrootcert`: the CA certificates that verify the server.
    public var sslrootcert: String? { get { values["sslrootcert"] } set { values["sslrootcert"] = newValue } }
    /// `sslcrl`: a certificate revocation list file for the server's chain.
    public var sslcrl: String? { get { values["sslcrl"] } set { values["sslcrl"] = newValue } }
    /// `sslcrldir`: a directory of revocation lists.
    public var sslcrldir: String? { get { values["sslcrldir"] } set { values["sslcrldir"] = newValue } }
    /// `sslpassword`: the passphrase of an encrypted `sslkey`; a secret.
    public var sslpassword: String? { get { values["sslpassword"] } set { values["sslpassword"] = newValue } }
    /// `sslsni`: whether to send the host name as TLS Server Name Indication.
    public var sslsni: Bool? { get { flag("sslsni") } set { setFlag("sslsni", newValue) } }
    /// `ssl_min_protocol_version`.
    public var sslMinProtocolVersion: TLSProtocolVersion? {
        get { values["ssl_min_protocol_version"].flatMap(TLSProtocolVersion.init(rawValue:)) }
        set { values["ssl_min_protocol_version"] = newValue?.rawValue }
    }
    /// `ssl_max_protocol_version`.
    public var sslMaxProtocolVersion: TLSProtocolVersion? {
        get { values["ssl_max_protocol_version"].flatMap(TLSProtocolVersion.init(rawValue:)) }
        set { values["ssl_max_protocol_version"] = newValue?.rawValue }
    }
    /// `connect_timeout` in seconds, per host (libpq's own timeout).
    public var connectTimeout: Int? {
        get { values["connect_timeout"].flatMap { Int($0) } }
        set { values["connect_timeout"] = newValue.map(String.init) }
    }
    /// `application_name`, shown in `pg_stat_activity` and the server log.
    public var applicationName: String? { get { values["application_name"] } set { values["application_name"] = newValue } }
    /// `options`: command-line options sent to the server (`-c name=value`).
    public var options: String? { get { values["options"] } set { values["options"] = newValue } }
    /// `target_session_attrs`: which kind of server in a host list is acceptable.
    public var targetSessionAttrs: String? { get { values["target_session_attrs"] } set { values["target_session_attrs"] = newValue } }
    /// `keepalives`: TCP keepalives on or off.
    public var keepalives: Bool? { get { flag("keepalives") } set { setFlag("keepalives", newValue) } }

    private func list(_ keyword: String) -> [String] {
        guard let value = values[keyword], !value.isEmpty else { return [] }
        return value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    private mutating func setList(_ keyword: String, _ list: [String]) {
        values[keyword] = list.isEmpty ? nil : list.joined(separator: ",")
    }

    private func flag(_ keyword: String) -> Bool? { values[keyword].flatMap { Int($0) }.map { $0 != 0 } }

    private mutating func setFlag(_ keyword: String, _ flag: Bool?) { values[keyword] = flag.map { $0 ? "1" : "0" } }
}

/// libpq's `sslmode`: what TLS the client insists on and what it verifies.
public enum SSLMode: String, Sendable, Hashable, CaseIterable, Codable {
    /// No TLS.
    case disable
    /// Plaintext first, TLS only if the server insists.
    case allow
    /// TLS first, plaintext if TLS fails (libpq's default).
    case prefer
    /// TLS only; the server certificate is verified only if a root certificate file exists.
    case require
    /// TLS; the server certificate must chain to `sslrootcert`.
    case verifyCA = "verify-ca"
    /// TLS; the server certificate must chain to `sslrootcert` and name the host.
    case verifyFull = "verify-full"

    /// Whether this mode makes libpq verify the server's certificate chain.
    public var verifiesServerCertificate: Bool { self == .verifyCA || self == .verifyFull }
}

/// A TLS protocol version as libpq's `ssl_min_protocol_version` spells it.
public enum TLSProtocolVersion: String, Sendable, Hashable, CaseIterable, Codable {
    case tls1 = "TLSv1"
    case tls1_1 = "TLSv1.1"
    case tls1_2 = "TLSv1.2"
    case tls1_3 = "TLSv1.3"
}
