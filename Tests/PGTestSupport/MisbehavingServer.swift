import Foundation

/// A TCP "server" on 127.0.0.1 that answers PostgreSQL's SSLRequest and then misbehaves, to
/// test that nothing crashes, hangs or misleads.
///
/// `@unchecked Sendable`: `fd` and `port` are immutable; the accept loop runs on its own thread
/// and stops when the socket is closed in `deinit`.
public final class MisbehavingServer: @unchecked Sendable {
    public enum Behavior: Sendable {
        /// Answers `S`, then sends bytes that are no TLS record, then closes.
        case garbageAfterTLSYes
        /// Answers `S`, then closes before the handshake.
        case closeAfterTLSYes
        /// Answers `S`, reads the ClientHello, then closes in the middle of the handshake.
        case closeMidHandshake
        /// Accepts and closes at once.
        case closeImmediately
    }

    let fd: Int32
    public let port: Int

    public init(_ behavior: Behavior) throws {
        let listener = try SilentListener()
        // Reuse the listening socket of SilentListener: take over its descriptor.
        fd = dup(listener.fd)
        port = listener.port
        let fd = self.fd
        let thread = Thread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                var request = [UInt8](repeating: 0, count: 8)
                _ = read(client, &request, 8)
                switch behavior {
                case .closeImmediately:
                    break
                case .closeAfterTLSYes:
                    _ = write(client, "S", 1)
                case .garbageAfterTLSYes:
                    _ = write(client, "S", 1)
                    var garbage = [UInt8](repeating: 0, count: 256)
                    for i in garbage.indices { garbage[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
                    _ = write(client, &garbage, garbage.count)
                case .closeMidHandshake:
                    _ = write(client, "S", 1)
                    var hello = [UInt8](repeating: 0, count: 4096)
                    _ = read(client, &hello, hello.count)
                }
                close(client)
            }
        }
        thread.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
