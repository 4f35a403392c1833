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

/// libpq's rules about local files, in one place, per libpq version: the home directory whose
/// `.postgresql/` holds the default files, the default file names, and the private-key
/// permission rule. The inspector, the TLS probe, the files cache and the explain text all read
/// them from here.
///
/// Each rule is taken from libpq's source and proven against the real libpq of each version
/// the tests have (`Tests/pgconnect-checkTests/LibpqVerdictTests.swift` runs psql and
/// pgconnect-check side by side, as root and as a user whose `HOME` is not its passwd home).
public enum LibPQRules {
    /// Where libpq looks for `~/.postgresql/`: `pqGetHomeDirectory()` in fe-connect.c.
    ///
    /// libpq 15 and later (commit "Prefer $HOME when looking up the current user's home
    /// directory", PostgreSQL 15): `$HOME` when it is set and not empty, else the passwd entry
    /// of the effective user. libpq 14 and earlier: the passwd entry only. Proven against libpq
    /// 15.18, 16.15, 17.10 and 18.6 (`$HOME` set, empty and unset) by `LibPQVersionRulesTests`.
    public static func homeDirectory(libpqVersion: Int = LibPQ.version,
                                     environment: [String: String] = ProcessInfo.processInfo.environment) -> HomeDirectory? {
        if libpqVersion >= 150000, let home = environment["HOME"], !home.isEmpty {
            return HomeDirectory(path: home, source: .environment)
        }
        guard let entry = getpwuid(geteuid()), let directory = entry.pointee.pw_dir else { return nil }
        return HomeDirectory(path: String(cString: directory), source: .passwd)
    }

    /// The home directory libpq uses, and where it came from.
    public struct HomeDirectory: Sendable, Hashable {
        public enum Source: String, Sendable, Hashable {
            /// `$HOME` (libpq 15 and later, when set and not empty).
            case environment = "$HOME"
            /// The passwd entry of the effective user.
            case passwd = "the passwd entry"
        }
        public var path: String
        public var source: Source
    }

    /// The sentence the explain text and reports use for the home rule of `libpqVersion`.
    public static func homeRuleText(libpqVersion: Int = LibPQ.version) -> String {
        libpqVersion >= 150000
            ? "libpq \(libpqVersion / 10000) reads ~/.postgresql/ under $HOME when it is set and not empty, else under the passwd entry's home directory"
            : "libpq \(libpqVersion / 10000) reads ~/.postgresql/ under the passwd entry's home directory (not $HOME)"
    }

    /// The file libpq uses for one of its SSL keywords when the keyword is unset or empty:
    /// `initialize_SSL()` in fe-secure-openssl.c.
    public enum DefaultFile: String, Sendable, CaseIterable {
        case sslrootcert = "root.crt"
        case sslcrl = "root.crl"
        case sslcert = "postgresql.crt"
        case sslkey = "postgresql.key"

        public var keyword: String {
            switch self {
            case .sslrootcert: "sslrootcert"
            case .sslcrl: "sslcrl"
            case .sslcert: "sslcert"
            case .sslkey: "sslkey"
            }
        }
    }

    /// Whether `sslmode` makes libpq verify the server's certificate against the root
    /// certificate, and so fail without one (verify-ca, verify-full). With another mode libpq
    /// still verifies the chain when the root certificate file exists.
    public static func requiresRootCertificate(sslmode: SSLMode) -> Bool {
        sslmode.verifiesServerCertificate
    }

    /// Whether `sslrootcert=system` means the operating system's trust store (libpq 16 and
    /// later); for older libpq it is a file named "system". Proven against libpq 15.18 (a file),
    /// 16.15, 17.10 and 18.6 (the keyword) by `LibPQVersionRulesTests`.
    public static func systemRootsSupported(libpqVersion: Int = LibPQ.version) -> Bool { libpqVersion >= 160000 }

    /// Whether libpq would block, or read without end, opening `path` as a certificate, root
    /// certificate or CRL file: a FIFO, a device or a socket. libpq checks only the key for being
    /// a regular file; psql waits forever on a FIFO named as sslcert or sslrootcert.
    public static func blocksLibpq(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0 else { return false }
        let type = status.st_mode & S_IFMT
        return type == S_IFIFO || type == S_IFCHR || type == S_IFBLK || type == S_IFSOCK
    }

    /// Why libpq's attempt with these files must not be made, or nil. libpq first has two
    /// exceptions, each shown with the real libpq and psql:
    /// - a FIFO or device named as a certificate, root certificate or CRL file: libpq (and psql)
    ///   wait on it forever;
    /// - a certificate, root certificate or key file that exists but this OS user may not read:
    ///   libpq 15.18 with OpenSSL 3.0 formats OpenSSL's system error with `strerror_r` into a
    ///   buffer it never fills, and prints uninitialized memory (psql as a non-root user with a
    ///   root-owned 0600 key: `could not load private key file "…": .OF�KV`); AddressSanitizer
    ///   stops our process on that read. The local inspection says exactly what is wrong.
    public static func attemptHazard(_ files: LibPQFiles) -> String? {
        if let file = [files.certificate, files.rootCertificate, files.crl].compactMap({ $0 }).first(where: { blocksLibpq($0.path) }) {
            return "libpq's attempt was not made: it would wait forever reading \(file.path), which is not a regular file (psql hangs on it)"
        }
        var opened = [files.rootCertificate, files.certificate].compactMap { $0 }
        if let certificate = files.certificate, access(certificate.path, F_OK) == 0, let key = files.key { opened.append(key) }
        if let file = opened.first(where: { access($0.path, F_OK) == 0 && access($0.path, R_OK) != 0 }) {
            return "libpq's attempt was not made: libpq cannot read \(file.path) either, and it reports that with uninitialized memory in place of the reason (libpq 15 with OpenSSL 3; psql prints garbage there)"
        }
        return nil
    }

    /// libpq's rule for a private key file's mode (fe-secure-openssl.c): owned by root,
    /// u=rw,g=r (0640) or less; any other owner, u=rw (0600) or less. Returns the forbidden bits.
    /// The same in libpq 15.18, 16.15, 17.10 and 18.6: proven by `LibPQVersionRulesTests` (root-owned 0640
    /// and 0644 as root, an own 0640 key and a root-owned 0640 key in the group as another user),
    /// and for libpq 15 by every scenario (LibpqVerdictTests).
    public static func forbiddenKeyModeBits(ownerIsRoot: Bool) -> mode_t {
        ownerIsRoot ? (S_IWGRP | S_IXGRP | S_IRWXO) : (S_IRWXG | S_IRWXO)
    }
}

/// The files libpq will use for one login, resolved once from the effective options and the
/// home directory (see ``LibPQRules``).
public struct LibPQFiles: Sendable, Hashable {
    /// One file libpq will look at.
    public struct File: Sendable, Hashable {
        /// The path libpq uses.
        public var path: String
        /// Whether the user named it (else it is libpq's `~/.postgresql/` default).
        public var named: Bool
    }

    /// The home directory libpq takes its defaults from; nil when it has none.
    public var home: LibPQRules.HomeDirectory?
    public var rootCertificate: File?
    public var certificate: File?
    public var key: File?
    public var crl: File?

    /// Resolves each file as libpq does: the keyword's value when set and not empty, else the
    /// default under ``home``.
    public init(effective: ConnectionOptions, home: LibPQRules.HomeDirectory?) {
        self.home = home
        func resolve(_ file: LibPQRules.DefaultFile) -> File? {
            if let value = effective[file.keyword], !value.isEmpty { return File(path: value, named: true) }
            return home.map { File(path: $0.path + "/.postgresql/" + file.rawValue, named: false) }
        }
        rootCertificate = resolve(.sslrootcert)
        certificate = resolve(.sslcert)
        key = resolve(.sslkey)
        crl = resolve(.sslcrl)
    }
}
