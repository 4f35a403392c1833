import COpenSSL
@_spi(OpenSSL) import PGConnect

/// "Will this certificate log in?" on the server's side, offline: the client's chain verified as the
/// server's OpenSSL verifies it (`ssl_ca_file` as the trust store, `ssl_crl_file`/`ssl_crl_dir` with
/// `X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL`, the `ssl_client` purpose a TLS server
/// applies), then the login through pg_hba.conf and pg_ident.conf (``HBASimulator``).
struct ServerLoginPredictor {
    var certificatePath: String
    var user: String
    var database: String
    var clientAddress: String
    /// ssl_ca_file, ssl_crl_file and ssl_crl_dir as absolute paths (empty when unset).
    var caFile: String
    var crlFile: String
    var crlDirectory: String

    /// The certificate the client sends, or the finding that it cannot be read.
    func readCertificate() -> (chain: [X509Certificate], finding: ServerFinding?) {
        if let problem = FileInspector.readableProblem(certificatePath) {
            return ([], .clientCertificateUnreadable(path: certificatePath, problem: problem))
        }
        let (certificates, error) = PEMFile.certificates(atPath: certificatePath)
        if certificates.isEmpty {
            return ([], .clientCertificateUnreadable(path: certificatePath,
                                                      problem: "no PEM certificate in \(certificatePath) (\(error ?? "unknown error")); libpq sends only PEM certificates"))
        }
        return (certificates, nil)
    }

    /// `X509_verify_cert` with the server's store; nil error when the chain verifies.
    func verify(_ chain: [X509Certificate]) -> ServerFinding {
        guard let leaf = chain.first else { preconditionFailure("an empty chain is reported by readCertificate") }
        guard let store = X509_STORE_new() else {
            return .clientChainRejected(leaf.info, error: -1, depth: 0, reason: "out of memory", failedSubject: leaf.subject)
        }
        defer { X509_STORE_free(store) }
        ERR_clear_error()
        _ = X509_STORE_load_locations(store, caFile, nil)
        if !crlFile.isEmpty || !crlDirectory.isEmpty {
            if X509_STORE_load_locations(store, crlFile.isEmpty ? nil : crlFile, crlDirectory.isEmpty ? nil : crlDirectory) == 1 {
                X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
            }
        }
        ERR_clear_error()
        guard let context = X509_STORE_CTX_new() else {
            return .clientChainRejected(leaf.info, error: -1, depth: 0, reason: "out of memory", failedSubject: leaf.subject)
        }
        defer { X509_STORE_CTX_free(context) }
        let untrusted = pgc_sk_X509_new_null()
        defer { pgc_sk_X509_free(untrusted) }
        for certificate in chain.dropFirst() { _ = pgc_sk_X509_push(untrusted, certificate.pointer) }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, untrusted) == 1 else {
            return .clientChainRejected(leaf.info, error: -1, depth: 0, reason: "cannot set up the verification", failedSubject: leaf.subject)
        }
        // What an OpenSSL TLS server applies to a client's chain (ssl_verify_cert_chain).
        _ = X509_STORE_CTX_set_default(context, "ssl_client")
        let verified = X509_verify_cert(context) == 1
        defer { ERR_clear_error() }
        if verified {
            var subjects: [String] = []
            if let built = X509_STORE_CTX_get0_chain(context) {
                for index in 0..<pgc_sk_X509_num(built) {
                    if let certificate = pgc_sk_X509_value(built, index) { subjects.append(CertificateInfo.name(X509_get_subject_name(certificate))) }
                }
            }
            return .clientChainVerified(leaf.info, chain: subjects)
        }
        let code = X509_STORE_CTX_get_error(context)
        let depth = Int(X509_STORE_CTX_get_error_depth(context))
        let reason = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
        let failed = X509_STORE_CTX_get_current_cert(context).map { CertificateInfo.name(X509_get_subject_name($0)) } ?? leaf.subject
        return .clientChainRejected(leaf.info, error: code, depth: depth, reason: reason, failedSubject: failed)
    }
}
