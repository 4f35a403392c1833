import Foundation

/// A TCP forwarder on 127.0.0.1 in front of a real server (e.g. the test server), to simulate
/// outages of that server without stopping it: every accepted connection is piped byte for byte
/// to the target, until the link is cut.
///
/// - ``cutOff(hold:)`` starts an outage: open links are dropped; new connections are refused
///   (accepted and closed at once, like a stopped server) or, with `hold`, accepted and left
///   unanswered (like a host whose packets are dropped).
/// - ``restore()`` ends it: new connections are forwarded again, and so are the held ones (the
///   network is back and their bytes get through).
/// - ``refuseNext(_:)`` refuses only the next few connections (a server unreachable for a moment).
///
/// `@unchecked Sendable`: the mutable state is in `State`, behind its lock; the accept thread and
/// one pump thread per link only touch it through the lock. Call ``close()`` when done.
public final class TCPForwarder: @unchecked Sendable {
    /// The port to connect to instead of the target's.
    public let port: Int
    private let state: State

    /// Listens on a free port on 127.0.0.1 and forwards to `targetPort` on 127.0.0.1.
    public init(targetPort: Int) throws {
        let listener = try SilentListener()
        let fd = dup(listener.fd)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        port = listener.port
        state = State(listener: fd, targetPort: targetPort)
        let state = self.state
        Thread { state.acceptLoop() }.start()
    }

    deinit { close() }

    /// Connections accepted so far (forwarded, refused or held).
    public var accepted: Int { state.locked { $0.accepted } }

    /// Starts an outage: drops every open link; new connections are refused, or held unanswered
    /// when `hold` is true.
    public func cutOff(hold: Bool = false) {
        state.locked { values in
            values.mode = hold ? .holding : .refusing
            for fd in values.links { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Ends the outage: new connections are forwarded, and so are the ones held meanwhile.
    public func restore() {
        let held = state.locked { values in
            values.mode = .forwarding
            defer { values.held.removeAll() }
            return values.held
        }
        for client in held { state.startLink(client) }
    }

    /// Refuses (accepts and closes at once) the next `count` connections, then goes on as before.
    public func refuseNext(_ count: Int) {
        state.locked { $0.refuseNext += count }
    }

    /// Stops listening and drops every link and held connection. Safe to call more than once.
    public func close() {
        let (listener, held) = state.locked { values -> (Int32, [Int32]) in
            let listener = values.listener
            values.listener = -1
            values.mode = .refusing
            for fd in values.links { shutdown(fd, Int32(SHUT_RDWR)) }
            defer { values.held.removeAll() }
            return (listener, values.held)
        }
        for fd in held { closeDescriptor(fd) }
        if listener >= 0 {
            // Wakes the accept thread (accept fails), which then closes the descriptor.
            shutdown(listener, Int32(SHUT_RDWR))
        }
    }

    private final class State: @unchecked Sendable {
        enum Mode { case forwarding, refusing, holding }
        struct Values {
            var listener: Int32
            var mode = Mode.forwarding
            var refuseNext = 0
            var accepted = 0
            /// Descriptors of the open links, both ends (shut down to cut them; their pump closes them).
            var links: Set<Int32> = []
            /// Accepted connections waiting for the end of a holding outage.
            var held: [Int32] = []
        }

        private let lock = NSLock()
        private var values: Values
        private let targetPort: Int
        private let listener: Int32

        init(listener: Int32, targetPort: Int) {
            self.listener = listener
            self.targetPort = targetPort
            values = Values(listener: listener)
        }

        func locked<T>(_ body: (inout Values) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&values)
        }

        func acceptLoop() {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    break
                }
                enum Action { case refuse, hold, forward }
                let action = locked { values -> Action in
                    values.accepted += 1
                    if values.listener < 0 { return .refuse }
                    if values.refuseNext > 0 {
                        values.refuseNext -= 1
                        return .refuse
                    }
                    switch values.mode {
                    case .refusing: return .refuse
                    case .holding:
                        values.held.append(client)
                        return .hold
                    case .forwarding: return .forward
                    }
                }
                switch action {
                case .refuse: closeDescriptor(client)
                case .hold: break
                case .forward: startLink(client)
                }
            }
            closeDescriptor(listener)
        }

        /// Connects `client` to the target and pipes both ways on a new thread.
        func startLink(_ client: Int32) {
            let targetPort = self.targetPort
            Thread { [self] in
                let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = UInt16(targetPort).bigEndian
                let connected = upstream >= 0 && withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                } == 0
                // Registered only while forwarding: an outage that began meanwhile drops the link.
                let registered = connected && locked { values in
                    guard values.mode == .forwarding, values.listener >= 0 else { return false }
                    values.links.formUnion([client, upstream])
                    return true
                }
                if registered { pump(client, upstream) }
                locked { values in
                    values.links.remove(client)
                    values.links.remove(upstream)
                }
                closeDescriptor(client)
                if upstream >= 0 { closeDescriptor(upstream) }
            }.start()
        }

        /// Copies bytes both ways until either side ends or the link is shut down.
        private func pump(_ a: Int32, _ b: Int32) {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
            while true {
                fds[0].revents = 0
                fds[1].revents = 0
                let ready = poll(&fds, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    return
                }
                for (index, entry) in fds.enumerated() where entry.revents != 0 {
                    let from = entry.fd, to = index == 0 ? b : a
                    let count = read(from, &buffer, buffer.count)
                    if count <= 0 { return }
                    var written = 0
                    while written < count {
                        // send with MSG_NOSIGNAL: a peer that is gone must not raise SIGPIPE in the test process.
                        let n = buffer.withUnsafeBytes { send(to, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL)) }
                        if n <= 0 { return }
                        written += n
                    }
                }
            }
        }
    }
}

/// `close(2)`, under a name that the forwarder's own `close()` does not hide.
private func closeDescriptor(_ fd: Int32) {
    close(fd)
}
