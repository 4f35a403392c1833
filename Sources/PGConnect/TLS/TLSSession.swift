import CLibPQ
import COpenSSL

/// The TLS session of a live connection: what libpq negotiated and the server's certificates.
public struct TLSSession: Sendable, Hashable {
    /// The TLS library libpq uses (`OpenSSL`).
    public var library: String?
    /// The protocol version, e.g. `TLSv1.3`.
    public var protocolVersion: String?
    /// The cipher suite, e.g. `TLS_AES_256_GCM_SHA384`.
    public var cipher: String?
    /// The cipher's key size in bits.
    public var keyBits: Int?
    /// Whether TLS compression is on (always off with modern OpenSSL).
    public var compression: String?
    /// The server's certificate chain as the server sent it, leaf first.
    public var peerCertificates: [CertificateInfo]
    /// The CA names (RFC 2253) the server listed in its certificate request: the CAs whose
    /// client certificates it accepts (empty when it asked for no client certificate).
    public var clientCANames: [String]

    /// The server's own certificate.
    public var serverCertificate: CertificateInfo? { peerCertificates.first }

    /// Reads the session of a connected `PGconn`; `nil` when TLS is not in use.
    init?(_ conn: OpaquePointer) {
        guard PQsslInUse(conn) != 0 else { return nil }
        func attribute(_ name: String) -> String? { PQsslAttribute(conn, name).map { String(cString: $0) } }
        library = attribute("library")
        protocolVersion = attribute("protocol")
        cipher = attribute("cipher")
        keyBits = attribute("key_bits").flatMap { Int($0) }
        compression = attribute("compression")
        peerCertificates = []
        clientCANames = []
        guard let ssl = PQsslStruct(conn, "OpenSSL").map(OpaquePointer.init) else { return }
        if let chain = SSL_get_peer_cert_chain(ssl) {
            // The chain belongs to the SSL object: read, never free.
            let count = pgc_sk_X509_num(chain)
            for i in 0..<count {
                if let certificate = pgc_sk_X509_value(chain, i) {
                    peerCertificates.append(CertificateInfo(certificate))
                }
            }
        }
        // On the client side OpenSSL keeps the list from the server's CertificateRequest (also
        // after the handshake); it belongs to the SSL object.
        if let names = SSL_get_client_CA_list(ssl) {
            clientCANames = (0..<pgc_sk_X509_NAME_num(names)).compactMap { i in
                pgc_sk_X509_NAME_value(names, i).map { CertificateInfo.name($0) }
            }
        }
    }
}
