import CLibPQ

/// Facts about the linked libpq.
public enum LibPQ {
    /// libpq's version number (`PQlibVersion`), e.g. 150018 for 15.18.
    public static var version: Int { Int(PQlibVersion()) }

    /// The major version, e.g. 15.
    public static var majorVersion: Int { version / 10000 }
}
