/// The first column of a pg_hba.conf rule (`ConnType` in hba.h).
public enum HBAConnectionType: String, Sendable, Hashable, CaseIterable {
    /// Unix-domain socket connections.
    case local
    /// TCP/IP connections, with or without SSL or GSSAPI encryption.
    case host
    /// TCP/IP connections that use SSL.
    case hostssl
    /// TCP/IP connections that do not use SSL.
    case hostnossl
    /// TCP/IP connections that use GSSAPI encryption.
    case hostgssenc
    /// TCP/IP connections that do not use GSSAPI encryption.
    case hostnogssenc
}
