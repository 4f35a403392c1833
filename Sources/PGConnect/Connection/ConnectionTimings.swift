/// When each phase of a connection ended, measured from the start of the attempt.
///
/// Times are offsets from ``start`` on a monotonic clock. A phase libpq went through within a
/// single poll (e.g. the server sent AuthenticationOk and ReadyForQuery together) gets the time
/// of the next phase, so an offset is never earlier than the event it marks. Only the final,
/// successful attempt is timed when libpq tried several hosts.
public struct ConnectionTimings: Sendable, Hashable {
    /// When the attempt began.
    public var start: ContinuousClock.Instant
    /// `PQconnectStartParams` returned: host names resolved, the first TCP connect started.
    public var resolved: Duration?
    /// TCP connection established.
    public var tcpConnected: Duration?
    /// TLS handshake finished (`nil` without TLS).
    public var tlsEstablished: Duration?
    /// The server accepted the login (AuthenticationOk).
    public var authenticated: Duration?
    /// Ready for queries: the whole connection time.
    public var ready: Duration?

    /// Creates timings that start now.
    public init(start: ContinuousClock.Instant = .now) { self.start = start }

    /// Length of each phase: `dns`, `tcp`, `tls`, `authentication`, `total` (those reached).
    public var phaseDurations: [(phase: String, duration: Duration)] {
        var result: [(String, Duration)] = []
        var previous = Duration.zero
        for (name, mark) in [("dns", resolved), ("tcp", tcpConnected), ("tls", tlsEstablished), ("authentication", authenticated)] {
            guard let mark else { continue }
            result.append((name, mark - previous))
            previous = mark
        }
        if let ready { result.append(("total", ready)) }
        return result
    }
}

extension Duration {
    /// This duration in milliseconds, as a Double.
    public var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
