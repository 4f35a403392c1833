import CLibPQ
import COpenSSL
import Synchronization

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
    ///
    /// Read from OpenSSL the first time it is asked for: a connection whose certificates nobody
    /// looks at never decodes them.
    public var peerCertificates: [CertificateInfo] {
        get { peers.certificates }
        set { peers = PeerChain(newValue) }
    }
    private var peers: PeerChain
    /// The CA names (RFC 2253) the server listed in its certificate request: the CAs whose
    /// client certificates it accepts (empty when it asked for no client certificate).
    public var clientCANames: [String]
    /// Why ``peerCertificates`` and ``clientCANames`` are unknown (empty) although TLS is in
    /// use; nil when they were read.
    ///
    /// They come from libpq's `SSL *` (`PQsslStruct`), which PGConnect reads with its own
    /// OpenSSL only when libpq shares that copy (``LibpqOpenSSL``). A libpq with an OpenSSL of
    /// its own (e.g. a Python wheel's, through `LD_LIBRARY_PATH`) still gives the protocol,
    /// cipher and key size through `PQsslAttribute`, but not the certificates.
    public var peerDetailsUnavailable: String?

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
        peers = PeerChain([])
        clientCANames = []
        guard LibpqOpenSSL.isShared else {
            // Never hand libpq's SSL * to another OpenSSL copy: undefined behaviour.
            peerDetailsUnavailable = LibpqOpenSSL.unsharedNote
            return
        }
        guard let ssl = PQsslStruct(conn, "OpenSSL").map(OpaquePointer.init) else { return }
        if let chain = SSL_get_peer_cert_chain(ssl) {
            // The chain belongs to the SSL object; PeerChain takes references of its own.
            peers = PeerChain(retaining: (0..<pgc_sk_X509_num(chain)).compactMap { pgc_sk_X509_value(chain, $0) })
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

extension TLSSession {
    public static func == (lhs: TLSSession, rhs: TLSSession) -> Bool {
        lhs.library == rhs.library && lhs.protocolVersion == rhs.protocolVersion && lhs.cipher == rhs.cipher
            && lhs.keyBits == rhs.keyBits && lhs.compression == rhs.compression
            && lhs.clientCANames == rhs.clientCANames && lhs.peerCertificates == rhs.peerCertificates
            && lhs.peerDetailsUnavailable == rhs.peerDetailsUnavailable
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(library)
        hasher.combine(protocolVersion)
        hasher.combine(cipher)
        hasher.combine(keyBits)
        hasher.combine(compression)
        hasher.combine(clientCANames)
        hasher.combine(peerCertificates)
        hasher.combine(peerDetailsUnavailable)
    }
}

/// The server's certificates of one session: OpenSSL references until first read, then the
/// decoded ``CertificateInfo`` values. Each reference is freed exactly once (when decoded, or in
/// `deinit` if never read).
final class PeerChain: Sendable {
    /// `X509 *` references this object owns.
    private struct References: @unchecked Sendable {
        var pointers: [OpaquePointer]
    }

    /// Either the retained OpenSSL certificates (until first read) or their decoded form. Two
    /// optionals rather than an enum with payloads: Swift would keep the enum's case in the spare
    /// bits of the array pointer, which LeakSanitizer then does not recognise as a pointer.
    private struct State {
        var references: References?
        var decoded: [CertificateInfo]?
    }

    private let state: Mutex<State>

    init(_ certificates: [CertificateInfo]) {
        state = Mutex(State(references: nil, decoded: certificates))
    }

    /// Takes a reference to each certificate (`X509_up_ref`); the caller's stay untouched.
    init(retaining certificates: [OpaquePointer]) {
        for certificate in certificates { X509_up_ref(certificate) }
        state = Mutex(State(references: References(pointers: certificates), decoded: nil))
    }

    var certificates: [CertificateInfo] {
        state.withLock { state in
            if let decoded = state.decoded { return decoded }
            let references = state.references?.pointers ?? []
            let certificates = references.map { CertificateInfo($0) }
            references.forEach { X509_free($0) }
            state = State(references: nil, decoded: certificates)
            return certificates
        }
    }

    deinit {
        state.withLock { state in
            if state.decoded == nil { state.references?.pointers.forEach { X509_free($0) } }
        }
    }
}
