import CLibPQ
import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which libpq this process runs on, which OpenSSL that libpq calls, and which OpenSSL PGConnect
/// and PGDiagnostics call — for reports, since libpq.so.5 is ABI-stable and the one found at run
/// time (`LD_LIBRARY_PATH`, a wheel's bundled copy) need not be the one the program was built with.
///
/// Read from the loaded libraries themselves: the version from `PQlibVersion`, each file from
/// `dladdr` on a function as the dynamic linker bound it, libpq's OpenSSL by calling
/// `OpenSSL_version` as libpq's own link map resolves it (a static string: no OpenSSL object
/// crosses between copies), and whether the two are one copy from ``LibpqOpenSSL``.
public struct LibPQRuntime: Sendable, Hashable {
    /// `PQlibVersion()`, e.g. 150018.
    public var versionNumber: Int
    /// The version as libpq 10 and later number it, e.g. `15.18`.
    public var version: String { "\(versionNumber / 10000).\(versionNumber % 10000)" }
    /// The file the process's libpq calls go to, e.g. `/usr/lib/x86_64-linux-gnu/libpq.so.5.15`.
    public var libraryPath: String?
    /// The OpenSSL libpq calls (`OpenSSL_version(OPENSSL_VERSION)`), e.g. `OpenSSL 3.0.19 27 Jan 2026`;
    /// nil when libpq links no OpenSSL this process can see.
    public var openSSLVersion: String?
    /// The libssl file libpq calls.
    public var openSSLLibraryPath: String?
    /// The OpenSSL PGConnect and PGDiagnostics call (certificate inspection, the TLS probe).
    public var ownOpenSSLVersion: String
    /// Its libssl file.
    public var ownOpenSSLLibraryPath: String?
    /// Whether libpq calls that very OpenSSL copy (``LibpqOpenSSL/isShared``): only then is
    /// libpq's `SSL *` read, and only then do the certificate checks run on libpq's OpenSSL.
    public var sharesOpenSSL: Bool

    public init(versionNumber: Int, libraryPath: String?, openSSLVersion: String?, openSSLLibraryPath: String?,
                ownOpenSSLVersion: String, ownOpenSSLLibraryPath: String?, sharesOpenSSL: Bool) {
        self.versionNumber = versionNumber
        self.libraryPath = libraryPath
        self.openSSLVersion = openSSLVersion
        self.openSSLLibraryPath = openSSLLibraryPath
        self.ownOpenSSLVersion = ownOpenSSLVersion
        self.ownOpenSSLLibraryPath = ownOpenSSLLibraryPath
        self.sharesOpenSSL = sharesOpenSSL
    }

    /// This process's, worked out once (the loaded libraries do not change).
    public static let current: LibPQRuntime = resolve()

    /// One line for people, e.g. `libpq 15.18 (/usr/lib/…/libpq.so.5.15) on OpenSSL 3.0.19 27 Jan 2026,
    /// the same OpenSSL as pgconnect's own checks`.
    public var summary: String {
        var text = "libpq \(version)"
        if let libraryPath { text += " (\(libraryPath))" }
        if sharesOpenSSL {
            text += " on \(openSSLVersion ?? ownOpenSSLVersion), the same OpenSSL as pgconnect's own checks"
        } else {
            text += openSSLVersion.map { " on its own \($0)" + (openSSLLibraryPath.map { " (\($0))" } ?? "") } ?? " on an OpenSSL this process cannot see"
            text += "; pgconnect's own checks use \(ownOpenSSLVersion)" + (ownOpenSSLLibraryPath.map { " (\($0))" } ?? "")
        }
        return text
    }

    /// The same without file names, e.g. `libpq 18.6 on its own OpenSSL 3.5.9 29 Sep 2026;
    /// pgconnect's checks on OpenSSL 3.0.19 27 Jan 2026` (for `--version`).
    public var shortSummary: String {
        if sharesOpenSSL { return "libpq \(version) on \(openSSLVersion ?? ownOpenSSLVersion)" }
        return "libpq \(version) on its own \(openSSLVersion ?? "OpenSSL (not visible)"); pgconnect's checks on \(ownOpenSSLVersion)"
    }

    static func resolve() -> LibPQRuntime {
        let own = OpenSSL_version(OPENSSL_VERSION).map { String(cString: $0) } ?? "OpenSSL (version unknown)"
        var runtime = LibPQRuntime(versionNumber: Int(PQlibVersion()), libraryPath: file(of: dlsym(nil, "PQlibVersion")),
                                   openSSLVersion: nil, openSSLLibraryPath: nil, ownOpenSSLVersion: own,
                                   ownOpenSSLLibraryPath: file(of: dlsym(nil, "SSL_new")), sharesOpenSSL: LibpqOpenSSL.isShared)
        if let libpq = dlopen("libpq.so.5", RTLD_LAZY | RTLD_NOLOAD) {
            defer { dlclose(libpq) }
            if let symbol = dlsym(libpq, "OpenSSL_version") {
                // const char *OpenSSL_version(int type): returns a static string of the copy it belongs to.
                typealias VersionFunction = @convention(c) (Int32) -> UnsafePointer<CChar>?
                let function = unsafeBitCast(symbol, to: VersionFunction.self)
                runtime.openSSLVersion = function(Int32(OPENSSL_VERSION)).map { String(cString: $0) }
            }
            runtime.openSSLLibraryPath = file(of: dlsym(libpq, "SSL_new"))
        }
        return runtime
    }

    /// The path of the loaded file that holds `address`, from `dladdr` (a GNU extension that
    /// Swift's Glibc module does not declare: found with dlsym, called with `Dl_info`'s layout).
    static func file(of address: UnsafeMutableRawPointer?) -> String? {
        guard let address, let symbol = dlsym(nil, "dladdr") else { return nil }
        /// `Dl_info`: dli_fname, dli_fbase, dli_sname, dli_saddr (glibc and musl).
        struct DlInfo {
            var fileName: UnsafePointer<CChar>?
            var fileBase: UnsafeMutableRawPointer?
            var symbolName: UnsafePointer<CChar>?
            var symbolAddress: UnsafeMutableRawPointer?
        }
        typealias DladdrFunction = @convention(c) (UnsafeRawPointer, UnsafeMutableRawPointer) -> Int32
        var info = DlInfo()
        let found = withUnsafeMutablePointer(to: &info) { unsafeBitCast(symbol, to: DladdrFunction.self)(address, $0) }
        guard found != 0, let name = info.fileName else { return nil }
        // The file itself, not the link it was loaded through (libpq.so.5 → libpq.so.5.15).
        guard let resolved = realpath(name, nil) else { return String(cString: name) }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

extension LibPQ {
    /// Which libpq and which OpenSSL this process runs on (``LibPQRuntime``).
    public static var runtime: LibPQRuntime { LibPQRuntime.current }
}
