import COpenSSL
@_spi(OpenSSL) import PGConnect

/// An `X509` this module owns; freed exactly once, in `deinit`.
final class X509Certificate {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }

    /// What the certificate says (names, validity, usage).
    lazy var info = CertificateInfo(pointer)

    /// The subject (RFC 2253), without decoding the rest (``info`` does that).
    var subject: String { CertificateInfo.name(X509_get_subject_name(pointer)) }

    /// Whether the certificate may sign others (`X509_check_ca`).
    var isCA: Bool { X509_check_ca(pointer) != 0 }

    /// Subject and issuer as raw `X509_NAME` comparisons (not text), for chain building.
    func isIssued(by issuer: X509Certificate) -> Bool {
        X509_check_issued(issuer.pointer, pointer) == X509_V_OK
    }
}

/// An `EVP_PKEY` this module owns; freed exactly once, in `deinit`.
final class PrivateKey {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }
}

/// OpenSSL's error queue, read and emptied (so no stale error reaches libpq or a later call).
enum OpenSSLError {
    /// The reason text of the oldest queued error (libpq prints the same text), then clears the queue.
    static func take() -> String? {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return nil }
        if let reason = ERR_reason_error_string(code) { return String(cString: reason) }
        return "SSL error code \(code)"
    }
}

/// Reading certificate and key files the way libpq does.
enum PEMFile {
    /// Every certificate in a PEM file, in order (`SSL_CTX_use_certificate_chain_file` reads PEM
    /// only: the leaf first, then the chain). Empty when the file holds none.
    static func certificates(atPath path: String) -> (certificates: [X509Certificate], error: String?) {
        ERR_clear_error()
        guard let bio = BIO_new_file(path, "r") else { return ([], OpenSSLError.take() ?? "cannot open") }
        defer { BIO_free(bio) }
        var certificates: [X509Certificate] = []
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            certificates.append(X509Certificate(certificate))
        }
        // Reaching the end of the file after at least one certificate is the normal way out.
        let error = OpenSSLError.take()
        return (certificates, certificates.isEmpty ? (error ?? "no certificate found") : nil)
    }

    /// What loading a private key found.
    enum KeyResult {
        case loaded(PrivateKey, encrypted: Bool)
        /// The key is encrypted and no passphrase was given.
        case needsPassphrase
        /// The key is encrypted and the passphrase given does not open it.
        case wrongPassphrase(reason: String)
        case unparsable(reason: String)
    }

    /// Loads a key as libpq does (PEM, then DER), answering a passphrase request with
    /// `passphrase` — never with a terminal prompt.
    static func privateKey(atPath path: String, passphrase: String?) -> KeyResult {
        ERR_clear_error()
        let context = PassphraseContext(passphrase: passphrase)
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        var pemError: String?
        if let bio = BIO_new_file(path, "r") {
            defer { BIO_free(bio) }
            if let key = PEM_read_bio_PrivateKey(bio, nil, { buffer, size, _, userdata in
                guard let buffer, let userdata, size > 0 else { return 0 }
                let context = Unmanaged<PassphraseContext>.fromOpaque(userdata).takeUnretainedValue()
                context.asked = true
                guard let passphrase = context.passphrase else { return 0 }
                let bytes = Array(passphrase.utf8.prefix(Int(size)))
                for (i, byte) in bytes.enumerated() { buffer[i] = CChar(bitPattern: byte) }
                return Int32(bytes.count)
            }, unmanaged.toOpaque()) {
                ERR_clear_error()
                return .loaded(PrivateKey(key), encrypted: context.asked)
            }
            pemError = OpenSSLError.take()
        }
        if context.asked {
            return context.passphrase == nil ? .needsPassphrase : .wrongPassphrase(reason: pemError ?? "bad decrypt")
        }
        if let bio = BIO_new_file(path, "r") {
            defer { BIO_free(bio) }
            if let key = d2i_PrivateKey_bio(bio, nil) {
                ERR_clear_error()
                return .loaded(PrivateKey(key), encrypted: false)
            }
            ERR_clear_error()
        }
        return .unparsable(reason: pemError ?? "no private key found")
    }

    /// Whether `key` is the private key of `certificate` (`X509_check_private_key`).
    static func matches(_ certificate: X509Certificate, _ key: PrivateKey) -> Bool {
        defer { ERR_clear_error() }
        return X509_check_private_key(certificate.pointer, key.pointer) == 1
    }
}

/// Carries the passphrase into OpenSSL's C callback and records whether it was asked.
private final class PassphraseContext {
    let passphrase: String?
    var asked = false
    init(passphrase: String?) { self.passphrase = passphrase }
}
