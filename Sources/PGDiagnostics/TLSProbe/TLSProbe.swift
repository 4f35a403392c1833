#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import COpenSSL
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@_spi(OpenSSL) import PGConnect
import Synchronization

/// A TLS handshake with the server through OpenSSL directly — the same library, files and
/// verification settings as libpq — to see what libpq does not print: the exact X.509
/// verification error, the server's whole chain, the CA names the server accepts for client
/// certificates, and the alert with which the server rejects a client certificate.
///
/// The probe sends PostgreSQL's SSLRequest, performs the handshake, then sends a startup
/// message for the same user and database and reads the server's first answer: under TLS 1.3
/// the server judges the client certificate only after the handshake, so its alert arrives
/// there. It then says goodbye (Terminate). It never prompts for a key passphrase.
public struct TLSProbe: Sendable {
    /// What the probe saw.
    public struct Result: Sendable, Hashable {
        /// The host and port probed.
        public var host: String
        public var port: Int
        /// A network failure (resolve, connect, timeout), if the probe got no answer.
        public var networkError: String?
        /// The server's answer to SSLRequest: `S` (TLS), `N` (no TLS), `E` (error).
        public var sslResponse: String?
        /// The handshake failed with this OpenSSL reason (e.g. `tlsv1 alert unknown ca`).
        public var handshakeError: String?
        public var protocolVersion: String?
        public var cipher: String?
        /// The server's certificate chain as sent, leaf first.
        public var serverChain: [CertificateInfo] = []
        /// Whether a root certificate file was loaded to verify the server.
        public var verifiedAgainstRoot: Bool = false
        /// OpenSSL's verification result of the server chain (0 = ok), when a root file was loaded.
        public var verifyCode: Int?
        /// `X509_verify_cert_error_string` of ``verifyCode``.
        public var verifyReason: String?
        /// The depth and subject of the certificate the first verification error is about.
        public var verifyErrorDepth: Int?
        public var verifyErrorSubject: String?
        /// CA names (RFC 2253) the server asked client certificates to be signed by.
        public var clientCANames: [String] = []
        /// Whether the server asked for a client certificate at all.
        public var certificateRequested: Bool = false
        /// Whether we sent a client certificate.
        public var sentClientCertificate: Bool = false
        /// The alert with which the server ended the session after the handshake (TLS 1.3).
        public var serverAlert: String?
        /// The server's first answer to the startup message: `AuthenticationOk`, a request for a
        /// password, or an error (`FATAL: 28000: ...`).
        public var serverAnswer: String?
        /// The SQLSTATE of an error answer.
        public var serverSQLState: String?
    }

    public var timeout: Duration

    public init(timeout: Duration = .seconds(10)) { self.timeout = timeout }

    /// Probes the first host of `options` (after libpq's environment and defaults). Returns
    /// nil for Unix-socket hosts, where PostgreSQL never uses TLS.
    public func probe(_ options: ConnectionOptions) async -> Result? { await probe(ResolvedTarget(options)) }

    /// Probes the first host of a resolved login, with the files libpq would use.
    public func probe(_ target: ResolvedTarget) async -> Result? {
        let effective = target.effective
        let files = target.files
        let host = effective.host.first ?? "localhost"
        if host.hasPrefix("/") || host.hasPrefix("@") { return nil }
        let address = effective.hostaddr.first.flatMap { $0.isEmpty ? nil : $0 } ?? host
        let port = effective.port.first ?? 5432
        let timeout = self.timeout
        return await withCheckedContinuation { continuation in
            DispatchQueue(label: "pgconnect.tls-probe").async {
                continuation.resume(returning: ProbeSession(host: host, address: address, port: port, options: effective,
                                                            files: files, timeout: timeout).run())
            }
        }
    }
}

/// One blocking probe, run on its own dispatch queue.
private final class ProbeSession {
    let host: String
    let address: String
    let port: Int
    let options: ConnectionOptions
    let files: LibPQFiles
    let timeout: Duration
    var result: TLSProbe.Result

    init(host: String, address: String, port: Int, options: ConnectionOptions, files: LibPQFiles, timeout: Duration) {
        self.files = files
        self.host = host
        self.address = address
        self.port = port
        self.options = options
        self.timeout = timeout
        self.result = TLSProbe.Result(host: host, port: port)
    }

    func run() -> TLSProbe.Result {
        defer { ERR_clear_error() }
        // OpenSSL writes to the socket with write(2): a server that already closed it would
        // raise SIGPIPE and kill the process. Block it on this thread, as libpq does, and
        // swallow a pending one before restoring the mask.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previousMask)
        defer {
            var pending = sigset_t()
            if sigpending(&pending) == 0, sigismember(&pending, SIGPIPE) == 1 {
                var zero = timespec()
                _ = sigtimedwait(&pipeSignal, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
        }
        guard let socket = connectSocket() else { return result }
        defer { close(socket) }

        // SSLRequest: length 8, code 1234.5679.
        var request: [UInt8] = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]
        guard write(socket, &request, 8) == 8 else {
            result.networkError = "could not send SSLRequest: \(String(cString: strerror(errno)))"
            return result
        }
        var answer: UInt8 = 0
        guard read(socket, &answer, 1) == 1 else {
            result.networkError = "no answer to SSLRequest (\(errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : String(cString: strerror(errno))))"
            return result
        }
        result.sslResponse = String(UnicodeScalar(answer))
        guard answer == UInt8(ascii: "S") else { return result }
        handshake(socket)
        return result
    }

    private func connectSocket() -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address, String(port), &hints, &list)
        guard status == 0, let first = list else {
            result.networkError = "could not translate host name \"\(address)\" to address: \(String(cString: gai_strerror(status)))"
            return nil
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else {
            result.networkError = "could not create socket: \(String(cString: strerror(errno)))"
            return nil
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
            result.networkError = String(cString: strerror(errno))
            close(fd)
            return nil
        }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(clamping: Int(timeout.milliseconds))
        guard poll(&poller, 1, milliseconds) == 1 else {
            result.networkError = "timeout while connecting"
            close(fd)
            return nil
        }
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
        guard socketError == 0 else {
            result.networkError = String(cString: strerror(socketError))
            close(fd)
            return nil
        }
        _ = fcntl(fd, F_SETFL, flags)
        // As libpq does: without TCP_NODELAY the startup message after the handshake waits for
        // the server's delayed ACK (Nagle), ~40 ms per probe.
        var noDelay: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private func handshake(_ socket: Int32) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            result.handshakeError = OpenSSLError.take() ?? "could not create SSL context"
            return
        }
        defer { SSL_CTX_free(context) }
        configureProtocols(context)
        let passphrase = PassphraseBox(options.sslpassword)
        let unmanagedPassphrase = Unmanaged.passRetained(passphrase)
        defer { unmanagedPassphrase.release() }
        SSL_CTX_set_default_passwd_cb(context) { buffer, size, _, userdata in
            guard let buffer, let userdata, size > 0 else { return 0 }
            let box = Unmanaged<PassphraseBox>.fromOpaque(userdata).takeUnretainedValue()
            guard let bytes = box.bytes else { return 0 }
            let count = min(bytes.count, Int(size))
            for i in 0..<count { buffer[i] = CChar(bitPattern: bytes[i]) }
            return Int32(count)
        }
        SSL_CTX_set_default_passwd_cb_userdata(context, unmanagedPassphrase.toOpaque())

        // Root certificates and CRLs, exactly where libpq would find them.
        let rootPath = files.rootCertificate?.path
        if let rootPath, FileManager.default.fileExists(atPath: rootPath),
           SSL_CTX_load_verify_locations(context, rootPath, nil) == 1 {
            result.verifiedAgainstRoot = true
            let store = SSL_CTX_get_cert_store(context)
            let crlPath = files.crl?.path
            if let crlPath, FileManager.default.fileExists(atPath: crlPath),
               X509_STORE_load_locations(store, crlPath, nil) == 1 {
                X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
            }
            // Keep going whatever the verdict, to see the whole chain; the verdict is recorded.
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER) { ok, store in
                if ok == 0, let store { VerifyRecorder.record(store) }
                return 1
            }
        }
        ERR_clear_error()

        // The client certificate, as libpq loads it (only when its files are there).
        let certPath = files.certificate?.path
        let keyPath = files.key?.path
        if let certPath, let keyPath, FileManager.default.fileExists(atPath: certPath),
           SSL_CTX_use_certificate_chain_file(context, certPath) == 1,
           SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 {
            result.sentClientCertificate = true
        }
        ERR_clear_error()

        guard let ssl = SSL_new(context) else {
            result.handshakeError = OpenSSLError.take() ?? "could not create SSL object"
            return
        }
        defer { SSL_free(ssl) }
        if options.sslsni ?? true, HostnameMatcher.ipBytes(host) == nil {
            _ = pgc_SSL_set_tlsext_host_name(ssl, host)
        }
        SSL_set_fd(ssl, socket)
        VerifyRecorder.begin(ssl)
        defer { VerifyRecorder.end(ssl) }

        let connected = SSL_connect(ssl)
        readSession(ssl)
        guard connected == 1 else {
            result.handshakeError = sslFailure(ssl, connected)
            return
        }
        afterHandshake(ssl)
    }

    private func configureProtocols(_ context: OpaquePointer) {
        func version(_ text: String?) -> Int32? {
            switch text?.lowercased() {
            case "tlsv1": pgc_TLS1_VERSION()
            case "tlsv1.1": pgc_TLS1_1_VERSION()
            case "tlsv1.2": pgc_TLS1_2_VERSION()
            case "tlsv1.3": pgc_TLS1_3_VERSION()
            default: nil
            }
        }
        // libpq's default minimum is TLSv1.2 (the effective options carry it).
        if let minimum = version(options["ssl_min_protocol_version"]) { _ = pgc_SSL_CTX_set_min_proto_version(context, minimum) }
        if let maximum = version(options["ssl_max_protocol_version"]) { _ = pgc_SSL_CTX_set_max_proto_version(context, maximum) }
    }

    private func readSession(_ ssl: OpaquePointer) {
        if let chain = SSL_get_peer_cert_chain(ssl) {
            result.serverChain = (0..<pgc_sk_X509_num(chain)).compactMap { pgc_sk_X509_value(chain, $0).map(CertificateInfo.init) }
        }
        if let names = SSL_get_client_CA_list(ssl) {
            result.clientCANames = (0..<pgc_sk_X509_NAME_num(names)).compactMap { i in
                pgc_sk_X509_NAME_value(names, i).map { CertificateInfo.name($0) }
            }
        }
        if result.verifiedAgainstRoot, !result.serverChain.isEmpty {
            let code = SSL_get_verify_result(ssl)
            result.verifyCode = code
            result.verifyReason = String(cString: X509_verify_cert_error_string(code))
            if let first = VerifyRecorder.first(ssl) {
                result.verifyErrorDepth = first.depth
                result.verifyErrorSubject = first.subject
                result.verifyCode = first.code
                result.verifyReason = String(cString: X509_verify_cert_error_string(first.code))
            }
        }
    }

    private func afterHandshake(_ ssl: OpaquePointer) {
        if let version = SSL_get_version(ssl) { result.protocolVersion = String(cString: version) }
        if let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) { result.cipher = String(cString: name) }
        result.certificateRequested = !result.clientCANames.isEmpty || result.sentClientCertificate

        // Startup message for the same user and database, so the server judges the certificate.
        let user = options.user ?? ClientFilesInspector.currentUserName()
        var body: [UInt8] = [0, 3, 0, 0]
        for (key, value) in [("user", user), ("database", options.dbname ?? user), ("application_name", "pgconnect-check probe")] {
            body += Array(key.utf8) + [0] + Array(value.utf8) + [0]
        }
        body.append(0)
        let length = UInt32(body.count + 4)
        var packet = withUnsafeBytes(of: length.bigEndian) { Array($0) } + body
        guard SSL_write(ssl, &packet, Int32(packet.count)) > 0 else {
            result.serverAlert = sslFailure(ssl, -1)
            return
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = SSL_read(ssl, &buffer, Int32(buffer.count))
        guard count > 0 else {
            result.serverAlert = sslFailure(ssl, count)
            return
        }
        parseAnswer(Array(buffer.prefix(Int(count))))
        var terminate: [UInt8] = [UInt8(ascii: "X"), 0, 0, 0, 4]
        _ = SSL_write(ssl, &terminate, 5)
        _ = SSL_shutdown(ssl)
    }

    private func parseAnswer(_ bytes: [UInt8]) {
        guard let type = bytes.first, bytes.count >= 5 else { return }
        switch type {
        case UInt8(ascii: "R"):
            let code = bytes.count >= 9 ? Int(bytes[5]) << 24 | Int(bytes[6]) << 16 | Int(bytes[7]) << 8 | Int(bytes[8]) : -1
            switch code {
            case 0: result.serverAnswer = "AuthenticationOk"
            case 3: result.serverAnswer = "the server asks for a cleartext password"
            case 5: result.serverAnswer = "the server asks for an MD5 password"
            case 10: result.serverAnswer = "the server asks for a SCRAM password exchange"
            default: result.serverAnswer = "authentication request \(code)"
            }
        case UInt8(ascii: "E"):
            var fields: [UInt8: String] = [:]
            var index = 5
            while index < bytes.count, bytes[index] != 0 {
                let field = bytes[index]
                index += 1
                let start = index
                while index < bytes.count, bytes[index] != 0 { index += 1 }
                fields[field] = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 1
            }
            result.serverSQLState = fields[UInt8(ascii: "C")]
            result.serverAnswer = "\(fields[UInt8(ascii: "V")] ?? fields[UInt8(ascii: "S")] ?? "ERROR"):  \(fields[UInt8(ascii: "M")] ?? "")"
        default:
            result.serverAnswer = "message type \(UnicodeScalar(type))"
        }
    }

    /// The OpenSSL reason for a failed call, as libpq would print it after "SSL error: ".
    private func sslFailure(_ ssl: OpaquePointer, _ returned: Int32) -> String {
        let kind = SSL_get_error(ssl, returned)
        if let reason = OpenSSLError.take() { return reason }
        switch kind {
        case SSL_ERROR_ZERO_RETURN: return "the server closed the TLS session"
        case SSL_ERROR_SYSCALL: return errno == 0 ? "EOF detected" : String(cString: strerror(errno))
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return "timeout waiting for the server"
        default: return "SSL error code \(kind)"
        }
    }
}

private final class PassphraseBox {
    let bytes: [UInt8]?
    init(_ passphrase: String?) { bytes = passphrase.flatMap { $0.isEmpty ? nil : Array($0.utf8) } }
}

/// The first verification error per SSL object, recorded by OpenSSL's C verify callback
/// (which has no context pointer of ours; SSL objects are keyed by address while a probe runs).
private enum VerifyRecorder {
    struct Failure: Sendable { var code: Int; var depth: Int; var subject: String }
    static let failures = Mutex<[UInt: Failure?]>([:])

    static func begin(_ ssl: OpaquePointer) { failures.withLock { $0[UInt(bitPattern: ssl)] = .some(nil) } }
    static func end(_ ssl: OpaquePointer) { failures.withLock { _ = $0.removeValue(forKey: UInt(bitPattern: ssl)) } }
    static func first(_ ssl: OpaquePointer) -> Failure? { failures.withLock { $0[UInt(bitPattern: ssl)] ?? nil } }

    static func record(_ store: OpaquePointer) {
        guard let raw = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()) else { return }
        let key = UInt(bitPattern: OpaquePointer(raw))
        let code = Int(X509_STORE_CTX_get_error(store))
        let depth = Int(X509_STORE_CTX_get_error_depth(store))
        let subject = X509_STORE_CTX_get_current_cert(store).map { CertificateInfo.name(X509_get_subject_name($0)) } ?? ""
        failures.withLock { failures in
            if case .some(.none) = failures[key] { failures[key] = .some(Failure(code: code, depth: depth, subject: subject)) }
        }
    }
}
