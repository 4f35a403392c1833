import XCTest
@testable import PGDiagnostics

/// `explain` on messages captured from the integration matrix (libpq 15, OpenSSL 3) and on the
/// wordings of other versions.
final class MessageExplainerTests: XCTestCase {
    let explainer = MessageExplainer()

    func codes(_ text: String) -> [String] {
        explainer.explain(text).first?.causes.map(\.code.rawValue) ?? []
    }

    func testCapturedMessagesMapToTheirCodes() {
        let prefix = "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: "
        let cases: [(String, String)] = [
            ("SSL error: tlsv1 alert unknown ca", "client-cert-unknown-ca"),
            ("SSL error: sslv3 alert certificate expired", "client-cert-expired"),
            ("SSL error: sslv3 alert bad certificate", "client-cert-rejected"),
            ("SSL error: sslv3 alert unsupported certificate", "client-cert-wrong-usage"),
            ("SSL error: sslv3 alert certificate revoked", "client-cert-revoked"),
            ("SSL error: ssl/tls alert certificate revoked", "client-cert-revoked"),
            ("SSL error: certificate verify failed", "server-cert-untrusted"),
            ("server certificate for \"db.example.test\" (and 1 other name) does not match host name \"127.0.0.1\"", "server-name-mismatch"),
            ("server does not support SSL, but SSL was required", "ssl-not-supported"),
            ("FATAL:  certificate authentication failed for user \"bob\"", "cert-name-mismatch"),
            // In real reports the certificate was mostly never sent (no sslcert, or a tool that did not
            // pass it on); a missing sslcert file comes next. The live check tells them apart.
            ("FATAL:  connection requires a valid client certificate", "client-cert-required"),
            ("FATAL:  \"trust\" authentication failed for user \"bob\"", "cert-name-mismatch"),
            ("FATAL:  password authentication failed for user \"bob\"", "password-failed"),
            ("fe_sendauth: no password supplied", "password-required"),
            ("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"alice\", database \"rejectdb\", SSL encryption", "hba-reject"),
            ("FATAL:  role \"ghost\" does not exist", "role-missing"),
            ("FATAL:  role \"locked\" is not permitted to log in", "role-cannot-login"),
            ("FATAL:  database \"nosuchdb\" does not exist", "database-missing"),
            ("FATAL:  permission denied for database \"closeddb\"", "connect-denied"),
            ("FATAL:  client certificates can only be checked if a root certificate store is available", "server-no-ca"),
            ("private key file \"/k\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root", "key-permissions"),
            ("could not load private key file \"/k\": bad decrypt", "key-encrypted"),
            ("could not load private key file \"/k\": processing error", "key-encrypted"),
            ("certificate present, but not private key file \"/k\"", "key-file-missing"),
            ("certificate does not match private key file \"/k\": key values mismatch", "key-cert-mismatch"),
            ("root certificate file \"/r\" does not exist\nEither provide the file or change sslmode to disable server certificate verification.", "root-cert-missing"),
            ("Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?", "connection-refused"),
            ("could not translate host name \"db\" to address: Name or service not known", "host-unresolved"),
            ("SSL error: unsupported protocol", "tls-version-mismatch"),
            ("server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally", "client-cert-rejected"),
        ]
        for (message, code) in cases {
            XCTAssertEqual(codes(prefix + message).first, code, message)
        }
    }

    func testVerboseSQLStatesAndServerLogLinesAreUnderstood() {
        XCTAssertEqual(codes("FATAL:  28000: certificate authentication failed for user \"bob\"").first, "cert-name-mismatch")
        XCTAssertEqual(codes("2026-11-29 10:11:43.746 UTC [29516] LOG:  no match in usermap \"certmap\" for user \"bob\" authenticated as \"alice\"").first,
                       "ident-map-no-match")
        XCTAssertEqual(codes("LOG:  provided user name (bob) and authenticated user name (alice) do not match").first, "cert-name-mismatch")
    }

    func testPreferFallbackPutsTheTLSAttemptFirst() {
        let findings = explainer.explain("""
            connection to server at "127.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry for host "127.0.0.1", user "bob", database "postgres", no encryption
            connection to server at "127.0.0.1", port 5432 failed: SSL error: tlsv1 alert unknown ca
            """)
        XCTAssertEqual(findings.map { $0.causes[0].code.rawValue }, ["client-cert-unknown-ca", "hba-no-entry"])
        XCTAssertNotNil(findings.last?.note)
    }

    func testUnrecognisedHugeAndBinaryInputIsHandled() {
        XCTAssertTrue(explainer.explain("all is well").isEmpty)
        let huge = String(repeating: "x", count: 3 << 20) + "certificate verify failed"
        XCTAssertTrue(explainer.explain(huge).isEmpty, "input past the limit is ignored, not crashed on")
        let binary = String(decoding: (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }, as: UTF8.self)
        _ = explainer.explain(binary)
        XCTAssertTrue(ExplanationRenderer.text([]).hasPrefix("Not recognised"))
    }

    /// The same alert text points at opposite sides depending on who logged it (lines from the
    /// server logs of the suite's own failures, PostgreSQL 15 and 16+).
    func testTLSAlertsAreReadByWhoLoggedThem() {
        // Client side: the server sent "unknown ca" about the client certificate.
        let client = explainer.explain(#"psql: error: connection to server at "db" (10.0.0.5), port 5432 failed: SSL error: tlsv1 alert unknown ca"#)
        XCTAssertEqual(client.first?.causes.first?.code, .clientCertUnknownCA)
        // Server side: the client sent it about the server's certificate.
        for line in ["2026-12-01 04:10:00.000 UTC [123] LOG:  could not accept SSL connection: tlsv1 alert unknown ca",
                     "LOG:  could not accept SSL connection: sslv3 alert certificate unknown",
                     "could not accept SSL connection: sslv3 alert bad certificate"] {
            let finding = explainer.explain(line).first
            XCTAssertEqual(finding?.causes.first?.code, .serverCertUntrusted, line)
            XCTAssertTrue(finding?.meaning.contains("client rejected the server's certificate") ?? false, line)
        }
        // Server side, the server's own verification of the client certificate.
        let verify = explainer.explain("""
            LOG:  could not accept SSL connection: certificate verify failed
            DETAIL:  Client certificate verification failed at depth 0: unable to get local issuer certificate.
            """)
        XCTAssertEqual(verify.first?.causes.first?.code, .clientCertUnknownCA)
        XCTAssertFalse(verify.contains { $0.causes.first?.code == .serverCertUntrusted }, "never libpq's verify failure")
    }
}
