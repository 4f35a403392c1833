import PGConnect

extension TLSProbe.Result {
    /// What a probe would have seen, taken from libpq's own failed attempt when that attempt
    /// already shows it — so a failing check costs one handshake, not two.
    ///
    /// That is the case when libpq made a single attempt, got through the TLS handshake (its
    /// session is in ``ConnectionError/handshake``), and the server then refused with a TLS alert
    /// libpq printed or with an error message: a TLS 1.3 server judges the client certificate
    /// only after the handshake. The server's chain and the client-certificate CAs it accepts come
    /// from libpq's session; the alert or the error from libpq's message. Returns nil otherwise
    /// (a handshake that failed, a connection lost without an alert, several attempts): then only
    /// a probe can tell — as when libpq's session could not be read
    /// (``TLSSession/peerDetailsUnavailable``).
    init?(handshakeOf error: ConnectionError, host: String, port: Int) {
        // A session whose certificates could not be read (a libpq with its own OpenSSL) does
        // not show what a probe would: then the probe runs.
        guard error.attempts.count == 1, let attempt = error.attempts.first, let session = error.handshake,
              session.peerDetailsUnavailable == nil else { return nil }
        let alert = FailureExplainer.alert(in: attempt.message)
        guard alert != nil || attempt.sqlState != nil else { return nil }
        self.init(host: host, port: port)
        sslResponse = "S"
        protocolVersion = session.protocolVersion
        cipher = session.cipher
        serverChain = session.peerCertificates
        clientCANames = session.clientCANames
        certificateRequested = !session.clientCANames.isEmpty
        if alert != nil {
            serverAlert = attempt.primary
        } else {
            serverAnswer = "\(attempt.severity ?? "FATAL"):  \(attempt.primary)"
            serverSQLState = attempt.sqlState
        }
    }
}
