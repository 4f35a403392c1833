import PGConnect
import XCTest
@testable import PGDiagnostics

/// The knowledge base on the kinds of messages issue 13 found misread: who logged a TLS line,
/// server startup and reload lines, other drivers' wordings, details inside a message, pasted
/// blocks; and that `check` reads libpq's messages through the same entries as `explain`.
final class KnowledgeBaseTests: XCTestCase {
    let explainer = MessageExplainer()

    func first(_ text: String) -> KnowledgeBase.Cause? { explainer.explain(text).first?.causes.first }

    func assertFirst(_ text: String, _ code: DiagnosisCode, cause id: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let cause = first(text)
        XCTAssertEqual(cause?.code, code, text, file: file, line: line)
        if let id { XCTAssertEqual(cause?.id, id, text, file: file, line: line) }
    }

    // MARK: who logged it

    func testAnAlertIsReadByWhoLoggedIt() {
        // The client's log holds the server's alert: about the client certificate.
        assertFirst("psql: error: connection to server at \"db\" (10.0.0.5), port 5432 failed: SSL error: tlsv1 alert unknown ca", .clientCertUnknownCA)
        assertFirst("SSL error: sslv3 alert certificate expired", .clientCertExpired)
        assertFirst("SSL error: sslv3 alert certificate revoked", .clientCertRevoked)
        assertFirst("unknown ca", .clientCertUnknownCA)
        // The server's log holds the client's alert: about the server certificate.
        assertFirst("2026-12-01 04:10:00.000 UTC [123] LOG:  could not accept SSL connection: tlsv1 alert unknown ca", .serverCertUntrusted)
        assertFirst("LOG:  could not accept SSL connection: sslv3 alert certificate unknown", .serverCertUntrusted)
        assertFirst("LOG:  could not accept SSL connection: tlsv1 alert certificate expired", .serverCertExpired)
        let finding = explainer.explain("LOG:  could not accept SSL connection: tlsv1 alert unknown ca").first
        XCTAssertEqual(finding?.loggedBy, .server)
        XCTAssertEqual(finding?.about, .serverCertificate)
    }

    func testTheServersOwnVerifyFailureIsAboutTheClientCertificate() {
        for (detail, code) in [("unable to get local issuer certificate", DiagnosisCode.clientCertUnknownCA),
                               ("certificate has expired", .clientCertExpired), ("certificate revoked", .clientCertRevoked),
                               ("unable to get certificate CRL", .clientCertUnknownCA)] {
            let findings = explainer.explain("""
                2026-12-01 07:00:00.000 UTC [42] LOG:  could not accept SSL connection: certificate verify failed
                2026-12-01 07:00:00.000 UTC [42] DETAIL:  Client certificate verification failed at depth 0: \(detail).
                \tFailed certificate data (unverified): subject "/CN=alice", serial number 4096, issuer "/CN=Other CA".
                """)
            XCTAssertEqual(findings.count, 1, "the DETAIL joins its line: \(findings.map(\.message))")
            XCTAssertEqual(findings.first?.causes.first?.code, code, detail)
            XCTAssertEqual(findings.first?.about, .clientCertificate, detail)
        }
    }

    // MARK: the server's own setup

    func testServerStartupAndReloadLines() {
        assertFirst(#"FATAL:  could not load server certificate file "server.crt": No such file or directory"#, .serverCertMissing, cause: "server-cert-file-missing")
        assertFirst(#"FATAL:  could not load server certificate file "server.crt": ca md too weak"#, .serverCertTooWeak, cause: "server-cert-weak")
        assertFirst(#"FATAL:  could not load server certificate file "server.crt": no start line"#, .serverCertInvalid, cause: "server-cert-unloadable")
        assertFirst("""
            2026-12-01 07:00:00.000 UTC [7] FATAL:  private key file "server.key" has group or world access
            2026-12-01 07:00:00.000 UTC [7] DETAIL:  File must have permissions u=rw (0600) or less if owned by the database user, or permissions u=rw,g=r (0640) or less if owned by root.
            """, .serverKeyPermissions, cause: "server-key-permissions")
        let hostssl = explainer.explain("""
            LOG:  hostssl record cannot match because SSL is disabled
            HINT:  Set "ssl = on" in postgresql.conf.
            CONTEXT:  line 10 of configuration file "/etc/postgresql/pg_hba.conf"
            """)
        XCTAssertEqual(hostssl.first?.causes.first?.id, "server-ssl-off")
        XCTAssertEqual(hostssl.first?.loggedBy, .server)
        // The shutdown is the consequence, the key file the cause.
        let story = explainer.explain("""
            2021-12-05 11:44:23.305 UTC [141] LOG:  database system is shut down
            2021-12-05 11:44:23.305 UTC [141] FATAL:  could not load private key file "/etc/ssl/private/ssl-cert-snakeoil.key": Permission denied
            """)
        XCTAssertEqual(story.first?.causes.first?.id, "server-key-unreadable")
        XCTAssertEqual(story.last?.isConsequence, true)
        // A reload that keeps the old SSL files: the permissions line is the cause.
        let reload = explainer.explain("""
            2020-05-04 18:30:43.485 NZST [22651] LOG:  private key file "/etc/ssl/private/ssl-cert-snakeoil.key" has group or world access
            2020-05-04 18:30:43.485 NZST [22651] DETAIL:  File must have permissions u=rw (0600) or less if owned by the database user, or permissions u=rw,g=r (0640) or less if owned by root.
            2020-05-04 18:30:43.485 NZST [22651] LOG:  SSL configuration was not reloaded
            """)
        XCTAssertEqual(reload.map(\.messageID), ["server.key-permissions", "server.ssl-not-reloaded"])
        XCTAssertEqual(reload.last?.isConsequence, true)
        assertFirst(#"LOG:  configuration file "/etc/postgresql/15/main/postgresql.conf" contains errors; unaffected changes were applied"#, .unknown, cause: "server-conf-invalid")
    }

    // MARK: other drivers and brittle wordings

    func testOtherDriversWordings() {
        assertFirst("Error: self-signed certificate in certificate chain", .serverCertUntrusted, cause: "server-self-signed")
        assertFirst("Error: The server does not support SSL connections", .sslNotSupported)
        assertFirst("pq: SSL is not enabled on the server", .sslNotSupported)
        assertFirst("javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", .serverCertUntrusted)
        assertFirst("error performing TLS handshake: invalid peer certificate: UnknownIssuer", .serverCertUntrusted)
        assertFirst("error performing TLS handshake: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))", .serverCertUntrusted, cause: "server-ca-as-leaf")
        assertFirst("SSL verify error: 20 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY", .serverCertUntrusted)
        assertFirst("x509: certificate is valid for db.internal, not db.example.com", .serverNameMismatch)
        assertFirst("Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: Host: db. is not in the cert's altnames: DNS:other", .serverNameMismatch)
        assertFirst("Server does not support SSL, but SSL was required", .sslNotSupported)
        assertFirst("could not connect to server: Operation timed out", .timeout)
        assertFirst("asyncpg: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for 'db'. (_ssl.c:1129)", .serverNameMismatch)
    }

    // MARK: details in the message

    func testDetailsDecideTheCause() {
        assertFirst("SSL error: certificate verify failed: self-signed certificate in certificate chain", .serverCertUntrusted, cause: "server-self-signed")
        assertFirst("SSL error: certificate verify failed: certificate has expired", .serverCertExpired)
        assertFirst("SSL error: certificate verify failed: unable to get local issuer certificate", .serverCertUntrusted, cause: "server-ca-unknown")
        assertFirst(#"FATAL:  no pg_hba.conf entry for host "1.2.3.4", user "app", database "app", SSL off"#, .hbaNoEntry, cause: "hba-plaintext")
        assertFirst(#"FATAL:  no pg_hba.conf entry for host "1.2.3.4", user "app", database "app", SSL encryption"#, .hbaNoEntry, cause: "hba-no-line")
        assertFirst(#"FATAL:  pg_hba.conf rejects connection for host "1.2.3.4", user "app", database "app", no encryption"#, .hbaReject, cause: "hba-reject-plaintext")
        assertFirst(#"LOG:  provided user name ("postgres") and authenticated user name (postgres) do not match"#, .certNameMismatch, cause: "quoted-user-name")
        assertFirst(#"root certificate file "D:PWrdsroot.pem" does not exist"#, .rootCertMissing, cause: "windows-path-eaten")
        assertFirst(#"could not open certificate file "/root/.postgresql/postgresql.crt": Permission denied"#, .fileUnreadable, cause: "default-file-foreign-home")
        assertFirst(#"could not read certificate file "/home/app/client.crt": unknown public key type"#, .certUnparsable, cause: "key-algorithm-unsupported")
        assertFirst(#"root certificate file "/nonexistent/.postgresql/root.crt" does not exist"#, .rootCertMissing, cause: "root-cert-missing-foreign-home")
        let causes = explainer.explain("FATAL:  connection requires a valid client certificate").first?.causes.map(\.id) ?? []
        XCTAssertTrue(causes.contains("client-cert-not-passed"), "a tool that never passed the certificate on: \(causes)")
    }

    /// A plaintext refusal is fixed on the client with TLS; no fix anywhere lowers sslmode, turns
    /// verification off or opens plaintext access.
    func testNoFixLowersSecurity() {
        let forbidden = ["sslmode=disable", "sslmode=allow", "sslmode=prefer", "sslmode=verify-ca", "rejectunauthorized", "trust server certificate",
                         "no-ssl-cert-verification", "insecureskipverify", "x509ignorecn", "hostnossl", "host all all", "/32 trust", "all trust"]
        for cause in KnowledgeBase.causes {
            for fix in cause.fixes {
                for phrase in forbidden { XCTAssertFalse(fix.lowercased().contains(phrase), "\(cause.id): \(fix)") }
            }
        }
        let plaintext = explainer.explain(#"FATAL:  pg_hba.conf rejects connection for host "1.2.3.4", user "app", database "app", SSL off"#).first
        XCTAssertTrue(plaintext?.causes.first?.fixes.first?.contains("sslmode=verify-full") ?? false)
    }

    // MARK: one story

    func testAPastedBlockIsOneStory() {
        // The server's LOG line is the cause, its FATAL the consequence.
        let story = explainer.explain("""
            2023-11-14 00:00:54.696 GMT [3788] FATAL:  certificate authentication failed for user "app"
            2023-11-14 00:00:54.696 GMT [3788] LOG:  provided user name (app) and authenticated user name (alice) do not match
            """)
        XCTAssertEqual(story.map(\.messageID), ["server.provided-user", "server.cert-auth-failed"])
        XCTAssertEqual(story.map(\.isConsequence), [false, true])
        // The plaintext retry of sslmode=prefer comes after the TLS attempt.
        let retry = explainer.explain("""
            pg_dump: connection to database "db" failed: FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "postgres", database "db", SSL off
            FATAL:  connection requires a valid client certificate
            """)
        XCTAssertEqual(retry.first?.causes.first?.code, .clientCertRequired)
        XCTAssertEqual(retry.last?.isConsequence, true)
        // A message wrapped over lines.
        assertFirst("psql: error: connection to server at \"db\" (10.0.0.5), port 5432 failed: root certificate file\n\"/root/.postgresql/root.crt\" does not exist", .rootCertMissing)
    }

    // MARK: the knowledge base itself

    func testTheKnowledgeBaseIsConsistent() {
        var used = Set<String>()
        var ids = Set<String>()
        for message in KnowledgeBase.messages {
            XCTAssertTrue(ids.insert(message.id).inserted, "duplicate message \(message.id)")
            XCTAssertFalse(message.causes.isEmpty, message.id)
            XCTAssertFalse(message.source.isEmpty, message.id)
            for pattern in message.patterns { XCTAssertEqual(pattern, pattern.lowercased(), "\(message.id): patterns are lower case") }
            for id in message.causes {
                XCTAssertNotNil(Causes.byID[id], "\(message.id) names an unknown cause \(id)")
                used.insert(id)
            }
            for id in message.consequenceOf { XCTAssertNotNil(KnowledgeBase.message(id), "\(message.id) is a consequence of an unknown message \(id)") }
        }
        for failure in [TLSVocabulary.Failure.untrusted, .selfSigned, .chainIncomplete, .expired, .notYetValid, .revoked, .crlMissing, .nameMismatch,
                        .wrongPurpose, .caAsLeaf, .weak, .unsupportedVersion, .rejected, .certificateRequired, .protocolVersion,
                        .noApplicationProtocol, .handshakeFailure] {
            for subject in [KnowledgeBase.Subject.serverCertificate, .clientCertificate] {
                for id in TLSVocabulary.causes(of: failure, about: subject) {
                    XCTAssertNotNil(Causes.byID[id], "\(failure) names an unknown cause \(id)")
                    used.insert(id)
                }
            }
        }
        let read: Set<String> = ["windows-path-eaten", "default-file-foreign-home", "root-cert-missing-foreign-home", "quoted-user-name", "hba-reject-plaintext",
                                 "client-cert-v1", "key-algorithm-unsupported", "key-format-unsupported", "server-cert-weak", "client-cert-weak"]
        for cause in KnowledgeBase.causes where !used.contains(cause.id) && !read.contains(cause.id) {
            XCTFail("cause \(cause.id) is never named")
        }
        XCTAssertTrue(ExplanationRenderer.catalog().contains("\"libpq.verify-failed\""))
    }

    /// `check` reads libpq's message through the same entries: with no other evidence it names
    /// the same cause first as `explain`.
    func testCheckAndExplainAgreeOnLibpqMessages() {
        let messages: [(String, ConnectionPhase)] = [
            ("SSL error: tlsv1 alert unknown ca", .tls), ("SSL error: sslv3 alert certificate expired", .tls),
            ("SSL error: sslv3 alert bad certificate", .tls), ("SSL error: sslv3 alert unsupported certificate", .tls),
            ("SSL error: sslv3 alert certificate revoked", .tls), ("SSL error: certificate verify failed", .tls),
            ("server certificate for \"db.example.test\" does not match host name \"127.0.0.1\"", .tls),
            ("server does not support SSL, but SSL was required", .tls),
            ("FATAL:  certificate authentication failed for user \"bob\"", .authentication),
            ("FATAL:  \"trust\" authentication failed for user \"bob\"", .authentication),
            ("FATAL:  password authentication failed for user \"bob\"", .authentication),
            ("fe_sendauth: no password supplied", .authentication),
            ("FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"alice\", database \"rejectdb\", SSL encryption", .authentication),
            ("FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"alice\", database \"x\", SSL encryption", .authentication),
            ("FATAL:  role \"ghost\" does not exist", .startup), ("FATAL:  database \"nosuchdb\" does not exist", .startup),
            ("FATAL:  permission denied for database \"closeddb\"", .startup),
            ("FATAL:  client certificates can only be checked if a root certificate store is available", .authentication),
            ("private key file \"/k\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root", .tls),
            ("could not load private key file \"/k\": bad decrypt", .tls),
            ("certificate present, but not private key file \"/k\"", .tls),
            ("could not load private key file \"/k\": key values mismatch", .tls),
            ("could not translate host name \"db\" to address: Name or service not known", .connecting),
            ("SSL error: unsupported protocol", .tls),
        ]
        for (message, phase) in messages {
            let text = "connection to server at \"127.0.0.1\", port 5432 failed: " + message
            var error = ConnectionError(code: .connectionFailed, phase: phase, message: text)
            if message.hasPrefix("FATAL") { error.sqlState = message.contains("role") || message.contains("does not exist") ? "3D000" : "28000" }
            let check = FailureExplainer().diagnose(error, options: ConnectionOptions())
            XCTAssertEqual(check.code, first(text)?.code, message)
        }
    }
}

extension KnowledgeBaseTests {
    /// A server whose lc_messages is not English: its words are unknown, its SQLSTATE is not.
    func testATranslatedServerMessageIsReadByItsSQLState() {
        assertFirst("psql: Fehler: Verbindung zum Server auf »db« fehlgeschlagen: FATAL:  28P01: Passwort-Authentifizierung für Benutzer »bob« fehlgeschlagen", .passwordFailed)
        assertFirst("FATAL:  3D000: la base de données « app » n'existe pas", .databaseMissing)
        let refused = explainer.explain("FATAL:  28000: la autenticación por certificado falló para el usuario «bob»").first
        XCTAssertEqual(refused?.messageID, "sqlstate.authorization")
        XCTAssertTrue(explainer.explain("order 28000 shipped to 42501 Main Street").isEmpty, "a number is not a SQLSTATE")
        assertFirst("Postgres.Error:\n  Severity: FATAL\n  Code: 28P01\n  Message: Passwort-Authentifizierung fehlgeschlagen", .passwordFailed)
    }
}

extension KnowledgeBaseTests {
    /// libpq 16–18's own messages about the keywords they added (texts from fe-connect.c and fe-auth.c,
    /// and as NewerLibpqKeywordsTests sees libpq 17 and 18 print them).
    func testNewerLibpqMessages() {
        assertFirst(#"psql: error: weak sslmode "require" may not be used with sslrootcert=system (use "verify-full")"#, .invalidConninfo, cause: "weak-sslmode-system")
        assertFirst(#"psql: error: weak sslmode "prefer" may not be used with sslnegotiation=direct (use "require", "verify-ca", or "verify-full")"#, .invalidConninfo, cause: "weak-sslmode-direct")
        assertFirst(#"connection to server at "db" (10.0.0.5), port 5432 failed: root certificate file "system" does not exist"#, .rootCertMissing, cause: "sslrootcert-system-old-libpq")
        assertFirst(#"connection to server at "db" (10.0.0.5), port 5432 failed: server accepted connection without a valid SSL certificate"#, .clientCertRequired, cause: "sslcertmode-no-certificate")
        assertFirst(#"connection to server at "db" (10.0.0.5), port 5432 failed: server did not request an SSL certificate"#, .serverNoCA)
        assertFirst(#"authentication method requirement "scram-sha-256" failed: server did not complete authentication"#, .passwordRequired, cause: "require-auth-no-exchange")
        assertFirst(#"authentication method requirement "none" failed: server requested SASL authentication"#, .passwordRequired, cause: "require-auth-password-line")
        assertFirst("2026-12-01 07:25:44.024 UTC [30745] LOG:  invalid length of startup packet", .tlsVersionMismatch, cause: "direct-ssl-old-server")
        XCTAssertEqual(KnowledgeBase.keywordsIntroduced["sslnegotiation"], 17)
    }
}

extension KnowledgeBaseTests {
    /// People paste errors with their connection strings in them: explain never repeats a secret.
    func testPastedSecretsAreNotRepeated() {
        let text = "failed-to-connect, dburl:postgres://app:hunter2@db.internal:5432/app?sslmode=verify-full, err:x509: certificate signed by unknown authority\n"
            + "psql: error: connection to server at \"db\" (10.0.0.5), port 5432 failed: password authentication failed for user \"app\" (password=s3cret sslpassword='key pass' host=db)"
        let findings = explainer.explain(text)
        XCTAssertEqual(findings.count, 2)
        let output = ExplanationRenderer.text(findings) + ExplanationRenderer.json(findings)
        for secret in ["hunter2", "s3cret", "key pass", "pass'"] { XCTAssertFalse(output.contains(secret), secret) }
        XCTAssertTrue(output.contains("postgres://app:***@db.internal"), output)
        XCTAssertTrue(output.contains("host=db"), output)
    }
}
