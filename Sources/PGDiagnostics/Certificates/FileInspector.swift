import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@_spi(OpenSSL) import PGConnect

/// Reads certificate, CA bundle and key files and says what they are — the facts a person
/// compares with pg_hba.conf and pg_ident.conf (`pgconnect-check inspect`).
public struct FileInspector: Sendable {
    /// One file's contents.
    public struct Inspected: Sendable, Hashable {
        public var path: String
        /// What the file holds: `certificates`, `private-key`, `encrypted-private-key`, or `unreadable`.
        public var kind: String
        /// Certificates in file order (a CA bundle or a chain holds several).
        public var certificates: [Certificate] = []
        public var key: Key?
        /// Why the file could not be read, if so.
        public var problem: String?
    }

    /// A certificate with the facts a login depends on.
    public struct Certificate: Sendable, Hashable {
        public var info: CertificateInfo
        /// Public key algorithm and size, e.g. `EC P-256 (256 bits)` or `RSA (4096 bits)`.
        public var publicKey: String
    }

    /// A private key.
    public struct Key: Sendable, Hashable {
        /// Algorithm and size; nil while encrypted and not opened.
        public var algorithm: String?
        public var encrypted: Bool
        /// The certificate files (inspected in the same call) whose public key this key matches.
        public var matches: [String]
    }

    public init() {}

    /// Inspects each file; keys are matched against every certificate among `paths`.
    /// - Parameter passphrase: opens encrypted keys; never asked for on a terminal.
    public func inspect(_ paths: [String], passphrase: String? = nil) -> [Inspected] {
        var results: [Inspected] = []
        var loadedCertificates: [(path: String, certificate: X509Certificate)] = []
        var loadedKeys: [(index: Int, key: PrivateKey)] = []
        for path in paths {
            var inspected = Inspected(path: path, kind: "unreadable")
            if let problem = Self.readableProblem(path) {
                inspected.problem = problem
                results.append(inspected)
                continue
            }
            let (certificates, _) = PEMFile.certificates(atPath: path)
            let loaded = certificates.isEmpty ? Self.derCertificate(path).map { [$0] } ?? [] : certificates
            if !loaded.isEmpty {
                inspected.kind = "certificates"
                inspected.certificates = loaded.map { Certificate(info: $0.info, publicKey: Self.describeKey(X509_get0_pubkey($0.pointer))) }
                if let first = loaded.first { loadedCertificates.append((path, first)) }
                results.append(inspected)
                continue
            }
            switch PEMFile.privateKey(atPath: path, passphrase: passphrase) {
            case .loaded(let key, let encrypted):
                inspected.kind = encrypted ? "encrypted-private-key" : "private-key"
                inspected.key = Key(algorithm: Self.describeKey(key.pointer), encrypted: encrypted, matches: [])
                loadedKeys.append((results.count, key))
            case .needsPassphrase:
                inspected.kind = "encrypted-private-key"
                inspected.key = Key(algorithm: nil, encrypted: true, matches: [])
                inspected.problem = "encrypted; give --sslpassword-file to open it and match it against the certificates"
            case .wrongPassphrase(let reason):
                inspected.kind = "encrypted-private-key"
                inspected.key = Key(algorithm: nil, encrypted: true, matches: [])
                inspected.problem = "the passphrase does not open it (\(reason))"
            case .unparsable(let reason):
                inspected.problem = "neither a certificate (PEM or DER) nor a private key: \(reason)"
            }
            results.append(inspected)
        }
        for (index, key) in loadedKeys {
            results[index].key?.matches = loadedCertificates.filter { PEMFile.matches($0.certificate, key) }.map(\.path)
        }
        return results
    }

    static func readableProblem(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return "\(path): \(String(cString: strerror(errno)))" }
        guard status.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file (a directory, FIFO or device)" }
        guard status.st_size <= 10 * 1024 * 1024 else { return "\(path) is larger than 10 MB: not a certificate or key file" }
        return ClientFilesInspector.unreadable(path)
    }

    static func derCertificate(_ path: String) -> X509Certificate? {
        defer { ERR_clear_error() }
        guard let bio = BIO_new_file(path, "rb") else { return nil }
        defer { BIO_free(bio) }
        return d2i_X509_bio(bio, nil).map(X509Certificate.init)
    }

    /// `EC P-256 (256 bits)`, `RSA (2048 bits)`, `ED25519 (256 bits)`.
    static func describeKey(_ key: OpaquePointer?) -> String {
        guard let key else { return "unknown" }
        let bits = EVP_PKEY_get_bits(key)
        let type = EVP_PKEY_get_base_id(key)
        var name: String
        switch type {
        case EVP_PKEY_RSA: name = "RSA"
        case EVP_PKEY_EC:
            name = "EC"
            var buffer = [CChar](repeating: 0, count: 64)
            var length = 0
            if EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 {
                let group = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                name += " " + (group == "prime256v1" ? "P-256" : group == "secp384r1" ? "P-384" : group == "secp521r1" ? "P-521" : group)
            }
        case EVP_PKEY_ED25519: name = "Ed25519"
        case EVP_PKEY_ED448: name = "Ed448"
        case EVP_PKEY_DSA: name = "DSA"
        default: name = OBJ_nid2sn(type).map { String(cString: $0) } ?? "unknown"
        }
        ERR_clear_error()
        return "\(name) (\(bits) bits)"
    }
}
