import Foundation
import PGConnect

/// A real PostgreSQL server and the certificates that `scripts/test.sh` starts and makes.
///
/// test.sh exports `PGCONNECT_TEST_ENV` (the PostgreSQL 15 cluster's `cluster.env`),
/// `PGCONNECT_TEST_ENV_16` and `PGCONNECT_TEST_ENV_17` (identically configured PostgreSQL 16 and
/// 17 clusters, when scripts/versions.sh has those builds) and `PGCONNECT_TEST_OTHER_PKI` (a
/// second, unrelated CA).
/// Integration tests skip with a clear message without them.
public struct TestServer: Sendable {
    public let host: String
    public let port: Int
    /// The PKI the server trusts: root.crt, server.crt, alice.crt/key, bob.crt/key, alice.enc.key ("secret").
    public let pki: String
    /// A PKI from another CA that the server does not trust.
    public let otherPKI: String
    /// The server's socket directory (superuser `postgres` logs in there with trust).
    public let socketDirectory: String
    /// The data directory (pg_hba.conf, pg_ident.conf), if known.
    public var dataDirectory: String?
    /// The PostgreSQL binaries the server runs from, if known.
    public var binDirectory: String?
    /// The `LD_LIBRARY_PATH` those binaries need (nil: none).
    public var libraryPath: String?
    /// The server's major version (15, 17, …): `PG_VERSION` of its data directory, if known.
    public var majorVersion: Int?

    /// The cluster directory (`server.log` is there), if known.
    public var clusterDirectory: String? { dataDirectory.map { ($0 as NSString).deletingLastPathComponent } }

    /// The server's log file (stderr of the postmaster, `log_line_prefix = '%m [%p] '`), if known.
    public var logFile: String? { clusterDirectory.map { "\($0)/server.log" } }

    /// The server from the environment (PostgreSQL 15 from Debian), or `nil` when the tests run
    /// outside scripts/test.sh.
    public static let shared: TestServer? = fromEnvironment("PGCONNECT_TEST_ENV")

    /// The PostgreSQL 16 server test.sh starts beside ``shared`` with the same configuration,
    /// or `nil` when there is none (no PostgreSQL 16 build in .versions/, or outside test.sh).
    public static let postgres16: TestServer? = fromEnvironment("PGCONNECT_TEST_ENV_16")

    /// The PostgreSQL 17 server test.sh starts beside ``shared`` with the same configuration,
    /// or `nil` when there is none (no PostgreSQL 17 build in .versions/, or outside test.sh).
    public static let postgres17: TestServer? = fromEnvironment("PGCONNECT_TEST_ENV_17")

    /// Every server test.sh started: ``shared`` first, then ``postgres16`` and ``postgres17``.
    public static var all: [TestServer] { [shared, postgres16, postgres17].compactMap { $0 } }

    /// "PostgreSQL 17 (port 5432)", for messages.
    public var label: String { "PostgreSQL \(majorVersion.map(String.init) ?? "?") (port \(port))" }

    /// The server described by the `cluster.env` file that environment variable `variable` names.
    public static func fromEnvironment(_ variable: String) -> TestServer? {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[variable], let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return nil
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: equals)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            values[String(line[..<equals])] = value
        }
        guard let host = values["PGCONNECT_HOST"], let port = values["PGCONNECT_PORT"].flatMap({ Int($0) }),
              let pki = values["PGCONNECT_PKI"], let socket = values["PGCONNECT_SOCKET_DIR"] else { return nil }
        var server = TestServer(host: host, port: port, pki: pki, otherPKI: environment["PGCONNECT_TEST_OTHER_PKI"] ?? pki,
                                socketDirectory: socket, dataDirectory: values["PGCONNECT_DATA"], binDirectory: values["PGCONNECT_PG_BINDIR"])
        server.libraryPath = values["PGCONNECT_PG_LIBRARY_PATH"].flatMap { $0.isEmpty ? nil : $0 }
        let version = values["PGCONNECT_PG_VERSION"]
            ?? server.dataDirectory.flatMap { try? String(contentsOfFile: "\($0)/PG_VERSION", encoding: .utf8) }
        server.majorVersion = version.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return server
    }

    /// Options for a verified certificate login as `user` with `certificate`'s cert and key.
    public func options(user: String = "alice", certificate: String? = nil, sslmode: SSLMode = .verifyFull) -> ConnectionOptions {
        let name = certificate ?? user
        var options = ConnectionOptions()
        options.host = [host]
        options.port = [port]
        options.dbname = "postgres"
        options.user = user
        options.sslmode = sslmode
        options.sslrootcert = "\(pki)/root.crt"
        options.sslcert = "\(pki)/\(name).crt"
        options.sslkey = "\(pki)/\(name).key"
        return options
    }

    /// The same as ``options(user:certificate:sslmode:)`` as a conninfo string.
    public func conninfo(user: String = "alice", certificate: String? = nil) -> String {
        (try? options(user: user, certificate: certificate).conninfoString()) ?? ""
    }

    /// Superuser over the Unix socket (pg_hba `local all all trust`).
    public var admin: ConnectionOptions {
        var options = ConnectionOptions()
        options.host = [socketDirectory]
        options.port = [port]
        options.user = "postgres"
        options.dbname = "postgres"
        return options
    }
}

/// A deterministic random generator (SplitMix64), so generated tests reproduce.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
