/// The layers a certificate login crosses, in order. Every check, failure and JSON field
/// names the layer it belongs to.
public enum Layer: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// conninfo, options, `PG*` environment and libpq defaults resolve to effective parameters.
    case config
    /// libpq finds and loads `sslcert`, `sslkey`, `sslrootcert`, `sslcrl`.
    case clientFiles = "client-files"
    /// DNS, TCP connect, the server's answer to SSLRequest.
    case network
    /// The handshake, both ways.
    case tls
    /// pg_hba.conf, the `cert` method, CN/DN mapping.
    case authentication
    /// Role and database exist; the role may log in and connect.
    case authorization
    /// Connected: what the session really is.
    case session

    public static func < (lhs: Layer, rhs: Layer) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
