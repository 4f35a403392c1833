import Foundation

/// For each failing scenario of ``CLIScenario/all`` and each side, the diagnosis code a person
/// reading only that text should be told first, and why in one line (SuiteFailuresRecorder writes
/// them into `Tests/PGDiagnosticsTests/Corpus/suite-failures.json`).
///
/// Decided from the text alone, not from what the scenario did: the same text from two scenarios
/// gets one code (the recorder refuses two), so where the text cannot tell causes apart the code is
/// the one that names what the text does say. `unknown` where the text names no cause at all (the
/// server's log of a client that hung up). Sources: PostgreSQL 15/17 `src/backend/libpq/auth.c`,
/// `be-secure-openssl.c`, `src/interfaces/libpq/fe-secure-openssl.c`, OpenSSL's
/// `ssl/statem/statem_lib.c` `x509table` (verify error → alert), and the recorded runs themselves.
enum SuiteFailureExpectations {
    struct Expectation: Sendable {
        var code: String
        var reason: String

        init(_ code: String, _ reason: String) {
            self.code = code
            self.reason = reason
        }
    }

    /// One scenario's expectations: the client's text, and the server's log (per server major
    /// version where the two log different words).
    struct Sides: Sendable {
        var client: Expectation?
        var server: Expectation?
        var server15: Expectation?
        var server17: Expectation?

        init(client: Expectation?, server: Expectation? = nil, server15: Expectation? = nil, server17: Expectation? = nil) {
            self.client = client
            self.server = server
            self.server15 = server15
            self.server17 = server17
        }
    }

    static func expectation(scenario: String, side: String, serverVersion: Int?) -> Expectation? {
        guard let sides = table[scenario] else { return nil }
        if side == "client" { return sides.client }
        switch serverVersion {
        case 15: return sides.server15 ?? sides.server
        case 17: return sides.server17 ?? sides.server
        default: return sides.server
        }
    }

    // MARK: texts shared by several scenarios

    /// `could not accept SSL connection: EOF detected`
    static let clientHungUpInHandshake = Expectation(
        "unknown",
        "The client closed the connection inside the TLS handshake without an alert (libpq stops at its own certificate, key or root file, or gives up on the server's certificate), so the server logs only SSL_accept's EOF (be-secure-openssl.c be_tls_open_server); the cause is on the client and only its message names it.")
    /// Only `connection received`.
    static let clientHungUpQuietly = Expectation(
        "unknown",
        "The server logged the connection and nothing else: the client hung up after the server's answer (an SSLRequest refused with ssl=off, a server certificate that failed libpq's host name check after the handshake, a password request with no password to give), which PostgreSQL does not log as an error; only the client's message names the cause.")
    /// PostgreSQL 15: `could not accept SSL connection: certificate verify failed`, no DETAIL.
    static let clientCertificateFailed15 = Expectation(
        "client-cert-unknown-ca",
        "PostgreSQL 15 logs that the server could not verify the client's certificate but not why (its verify_cb returns ok unchanged; the DETAIL with depth and reason came in 16, commit 3a0e3850 \"Log details for client certificate failures\"): the client certificate is at issue, most often an issuer that is not in ssl_ca_file or an intermediate the client did not send.")
    /// libpq: `SSL error: certificate verify failed`.
    static let serverCertificateFailed = Expectation(
        "server-cert-untrusted",
        "libpq (fe-secure-openssl.c, SSL_ERROR_SSL) prints OpenSSL's reason only, not the verify result: the server's certificate did not verify against sslrootcert; another CA is the usual cause, an expired or client-CRL-revoked server certificate gives the same text.")
    static let clientCertificateRequired = Expectation(
        "client-cert-required",
        "auth.c (uaCert / clientcert) raises this when no verified client certificate arrived; the text names no file, so it cannot say whether sslcert was unset, named a missing file (libpq 15 then silently sends none, fe-secure-openssl.c initialize_SSL) or was never passed on by the program.")
    static let certificateLoginFailed = Expectation(
        "cert-name-mismatch",
        "auth.c's message for a failed cert login (CheckCertAuth): the certificate's CN (or DN) did not give the requested user, directly or through the line's pg_ident map; the client cannot see which (the server log says), so the name comparison comes first.")
    static let usermapNoMatch = Expectation(
        "ident-map-no-match",
        "The server's log names the map: `no match in usermap` (hba.c check_usermap) means the line's map= has no pg_ident.conf line mapping this certificate's name to the requested user.")
    static let providedUserNameMismatch = Expectation(
        "cert-name-mismatch",
        "The server's log says `provided user name (X) and authenticated user name (Y) do not match` (hba.c check_usermap without a map): the certificate's CN is another user's.")
    static let hbaNoEntryNoEncryption = Expectation(
        "hba-no-entry",
        "auth.c ClientAuthentication: no pg_hba.conf line matched; `no encryption` says the connection was not TLS, and every line here is hostssl, so the fix is sslmode=require or higher on the client, not a new line.")
    static let keyEncrypted = Expectation(
        "key-encrypted",
        "OpenSSL could not decrypt the private key (`processing error` after the PEM pass phrase prompt when none is given, `bad decrypt` for a wrong one; fe-secure-openssl.c SSL_CTX_use_PrivateKey_file).")
    static let keyPermissions = Expectation(
        "key-permissions",
        "libpq's own check on the key file's mode and owner (fe-secure-openssl.c initialize_SSL: 0600 or less if the client's OS user owns it, 0640 or less if root does).")
    static let notPEM = Expectation(
        "cert-unparsable",
        "OpenSSL found no PEM certificate in what it read (`no start line`: empty, DER, binary or a directory read as nothing; `bad end line`: truncated); libpq prints OpenSSL's reason after the path.")
    static let notRegularKey = Expectation(
        "file-unreadable",
        "libpq (fe-secure-openssl.c initialize_SSL) refuses a private key path that is not a regular file (a directory, a FIFO, a device).")
    static let invalidConninfo = Expectation(
        "invalid-conninfo",
        "libpq could not parse the connection string or URI (fe-connect.c conninfo_parse / conninfo_uri_parse_options), before any connection.")
    static let unknownKeyword = Expectation(
        "unsupported-option",
        "libpq does not know the keyword (fe-connect.c conninfo_parse: `invalid connection option`): a typo or a keyword of a newer libpq.")
    static let sslSyscallEOF = Expectation(
        "unknown",
        "The peer closed the connection inside the TLS handshake without an alert (fe-secure-openssl.c: SSL_ERROR_SYSCALL with EOF); the text names no cause: a proxy or non-PostgreSQL service on the port, a server that aborted the handshake, a middlebox.")

    // MARK: the scenarios

    static let table: [String: Sides] = {
        var table: [String: Sides] = [:]
        func add(_ names: [String], _ sides: Sides) { for name in names { table[name] = sides } }

        // client-files: the client gives up before or inside the handshake
        add(["cert file missing", "no client cert where the server requires one"],
            Sides(client: clientCertificateRequired,
                  server: Expectation("client-cert-required", "The server's words (auth.c): the pg_hba line needs a client certificate and the client sent none; from the server the fix is on the client, whatever made it send none.")))
        add(["key file missing"],
            Sides(client: Expectation("key-file-missing", "libpq found the certificate but no key file at sslkey (fe-secure-openssl.c initialize_SSL: `certificate present, but not private key file`)."),
                  server: clientHungUpInHandshake))
        add(["root cert missing, verify-full", "root cert missing, verify-ca"],
            Sides(client: Expectation("root-cert-missing", "libpq's own message (fe-secure-openssl.c initialize_SSL): verify-ca/verify-full need sslrootcert (default ~/.postgresql/root.crt) and the file does not exist."),
                  server: clientHungUpInHandshake))
        add(["cert file not PEM", "a directory as sslcert", "/dev/zero as sslcert", "an empty sslcert", "a truncated PEM sslcert",
             "a 50 MB sslcert", "a DER sslcert"],
            Sides(client: notPEM, server: clientHungUpInHandshake))
        add(["key mode 0644, the runner's", "default key in $HOME/.postgresql with mode 0644"], Sides(client: keyPermissions, server: clientHungUpInHandshake))
        add(["encrypted key, no passphrase", "--sslkey encrypted, no passphrase", "encrypted key, wrong passphrase file",
             "wrong sslpassword in conninfo, --sslkey encrypted"],
            Sides(client: keyEncrypted, server: clientHungUpInHandshake))
        add(["key of another certificate", "an Ed25519 key for an EC certificate"],
            Sides(client: Expectation("key-cert-mismatch", "OpenSSL's SSL_CTX_check_private_key (or loading the key) found that the key is not the certificate's (`key values mismatch`, `certificate does not match private key file`)."),
                  server: clientHungUpInHandshake))
        add(["a FIFO as sslkey", "a directory as sslkey"], Sides(client: notRegularKey, server: clientHungUpInHandshake))
        // psql blocks opening these for reading and is ended: no client message; the server sees the EOF.
        add(["a FIFO as sslcert", "a FIFO as sslrootcert"], Sides(client: nil, server: clientHungUpInHandshake))

        // tls: the server rejects the client's certificate (the client sees the alert the server sent)
        add(["client cert expired"],
            Sides(client: Expectation("client-cert-expired", "The server sent certificate_expired (OpenSSL x509table: CERT_HAS_EXPIRED, also CRL_HAS_EXPIRED) about the client's certificate; libpq prints the alert it received."),
                  server15: clientCertificateFailed15,
                  server17: Expectation("client-cert-expired", "PostgreSQL 16+ logs the verify reason in DETAIL (be-secure-openssl.c verify_cb): `certificate has expired` at depth 0, the client's own certificate.")))
        add(["client cert not yet valid"],
            Sides(client: Expectation("client-cert-rejected", "The server sent bad_certificate about the client's certificate; OpenSSL's x509table maps several verify errors to it (CERT_NOT_YET_VALID, CERT_UNTRUSTED, CERT_REJECTED, weak key or digest), so the text names the certificate, not the reason."),
                  server15: clientCertificateFailed15,
                  server17: Expectation("client-cert-not-yet-valid", "PostgreSQL 16+ logs the verify reason in DETAIL (be-secure-openssl.c verify_cb): `certificate is not yet valid` at depth 0 (its notBefore is ahead of the server's clock).")))
        add(["client cert without clientAuth"],
            Sides(client: Expectation("client-cert-wrong-usage", "The server sent unsupported_certificate, which OpenSSL's x509table sends only for INVALID_PURPOSE: the client certificate's extendedKeyUsage lacks clientAuth."),
                  server15: clientCertificateFailed15,
                  server17: Expectation("client-cert-wrong-usage", "PostgreSQL 16+ logs the verify reason in DETAIL (be-secure-openssl.c verify_cb): `unsuitable certificate purpose`, the client certificate is not for clientAuth.")))
        add(["leaf without its intermediate", "client cert from an untrusted CA", "server CRL missing the intermediate's"],
            Sides(client: Expectation("client-cert-unknown-ca", "The server sent unknown_ca about the client's certificate (OpenSSL x509table: issuer not found or not trusted, a missing intermediate, a CRL missing for a CA of the chain); never about the server's certificate."),
                  server15: clientCertificateFailed15))
        table["leaf without its intermediate"]!.server17 = Expectation(
            "client-cert-unknown-ca", "PostgreSQL 16+ DETAIL: `unable to get local issuer certificate` at depth 0 for a certificate issued by an intermediate: the server cannot build the chain, because the client did not send the intermediate or ssl_ca_file lacks it; the text cannot say which.")
        table["client cert from an untrusted CA"]!.server17 = Expectation(
            "client-cert-unknown-ca", "PostgreSQL 16+ DETAIL: `unable to get local issuer certificate` at depth 0: the client certificate's issuer is not in ssl_ca_file.")
        table["server CRL missing the intermediate's"]!.server17 = Expectation(
            "client-cert-unknown-ca", "PostgreSQL 16+ DETAIL: `unable to get certificate CRL`: CRL checking is on (ssl_crl_file) and there is no CRL for a CA of the client's chain, so the chain cannot be completed.")
        add(["revoked client cert (server CRL)"],
            Sides(client: Expectation("client-cert-revoked", "The server sent certificate_revoked (OpenSSL x509table: CERT_REVOKED) about the client's certificate: the server's CRL lists it."),
                  server15: clientCertificateFailed15,
                  server17: Expectation("client-cert-revoked", "PostgreSQL 16+ DETAIL (be-secure-openssl.c verify_cb): `certificate revoked`, the server's ssl_crl_file lists the client's certificate.")))

        // tls: the client rejects the server's certificate (the server logs the alert the client sent)
        add(["wrong root cert, verify-full", "wrong root cert, verify-ca", "wrong root cert, require", "--sslrootcert of another CA"],
            Sides(client: serverCertificateFailed,
                  server: Expectation("server-cert-untrusted", "In the server's log the alert is the one the client sent (be-secure-openssl.c logs SSL_accept's error): unknown_ca means the client did not trust the server's certificate, not the other way round.")))
        add(["server cert revoked by the client's CRL"],
            Sides(client: serverCertificateFailed,
                  server: Expectation("server-cert-revoked", "The client sent certificate_revoked: its sslcrl lists the server's certificate (`sslv3 alert` with OpenSSL 3.0, `ssl/tls alert` with the OpenSSL 3.5 of the PostgreSQL 17 build: the same alert).")))
        add(["server cert expired"],
            Sides(client: serverCertificateFailed,
                  server: Expectation("server-cert-expired", "The client sent certificate_expired: the server's own certificate (ssl_cert_file) has expired (`sslv3 alert` with OpenSSL 3.0, `ssl/tls alert` with the OpenSSL 3.5 of the PostgreSQL 17 build).")))
        add(["server name mismatch by IP", "server name mismatch by name", "tutorial setup by IP"],
            Sides(client: Expectation("server-name-mismatch", "libpq's own check after the handshake (fe-secure-common.c pq_verify_peer_name_matches_certificate): the server's certificate does not name the host connected to."),
                  server: clientHungUpQuietly))
        add(["no common TLS version"],
            Sides(client: Expectation("tls-version-mismatch", "The server sent protocol_version and libpq adds its hint on the range it allowed (fe-secure-openssl.c): no TLS version in both ranges."),
                  server: Expectation("tls-version-mismatch", "SSL_accept failed with `unsupported protocol` and the server adds its hint on ssl_min/max_protocol_version (be-secure-openssl.c): the client offered no version in the server's range.")))

        // network
        add(["server with ssl off"],
            Sides(client: Expectation("ssl-not-supported", "libpq's own message (fe-connect.c): the server answered N to SSLRequest (ssl = off) while sslmode requires TLS."),
                  server: clientHungUpQuietly))
        add(["--port 1 (refused)", "--port 1, sslmode=require, nothing else"],
            Sides(client: Expectation("connection-refused", "connect() failed with ECONNREFUSED (fe-connect.c): nothing listens on that host and port.")))
        add(["silent server, --connect-timeout 1"],
            Sides(client: Expectation("timeout", "libpq's connect_timeout expired (fe-connect.c pqConnectDBComplete: `timeout expired`) with no answer from the port.")))
        add(["unresolvable host name"],
            Sides(client: Expectation("host-unresolved", "getaddrinfo failed (fe-connect.c: `could not translate host name`).")))
        add(["garbage after the server's TLS yes", "server closes mid-handshake"], Sides(client: sslSyscallEOF))

        // config
        add(["misspelt keyword sslcrt", "5000 unknown keywords"], Sides(client: unknownKeyword))
        add(["--sslmode verify_full"],
            Sides(client: Expectation("invalid-conninfo", "libpq refused the value (fe-connect.c connectOptions2: `invalid sslmode value`).")))
        add(["unterminated quote in conninfo", "bad percent-encoding in a URI"], Sides(client: invalidConninfo))

        // authentication
        add(["prefer, certificate of another user"],
            Sides(client: Expectation("cert-name-mismatch", "Two attempts (sslmode=prefer): the TLS one failed the cert login (auth.c CheckCertAuth), the plaintext retry then found no line; the first is the cause."),
                  server: Expectation("cert-name-mismatch", "Two connections: the first logs `provided user name (bob) and authenticated user name (alice) do not match` (the certificate is alice's), the second is the plaintext retry of sslmode=prefer.")))
        add(["sslmode=disable, hostssl-only rules", "simulation (files): sslmode=disable"], Sides(client: hbaNoEntryNoEncryption, server: hbaNoEntryNoEncryption))
        add(["reject line"],
            Sides(client: Expectation("hba-reject", "auth.c ClientAuthentication (uaReject): the first matching pg_hba.conf line is reject."),
                  server: Expectation("hba-reject", "auth.c ClientAuthentication (uaReject): the first matching pg_hba.conf line is reject.")))
        add(["password line without a password"],
            Sides(client: Expectation("password-required", "libpq's own message (fe-auth.c pg_fe_sendauth): the server asked for a password and the client has none (-w: no prompt)."),
                  server: clientHungUpQuietly))
        add(["password line, wrong password"],
            Sides(client: Expectation("password-failed", "auth.c auth_failed (uaSCRAM): the password was refused."),
                  server: Expectation("password-failed", "auth.c auth_failed (uaSCRAM) with the matched line in DETAIL; nothing else in the log: the password was wrong.")))
        add(["password line, right PGPASSWORD, certificate of another user", "simulation (files): right PGPASSWORD, certificate of another user"],
            Sides(client: Expectation("password-failed", "The client is told only that password authentication failed (auth.c auth_failed uses the line's method); the clientcert=verify-full CN check that really failed is logged on the server only."),
                  server: Expectation("cert-name-mismatch", "The log before the FATAL says it: `certificate validation (clientcert=verify-full) failed for user \"bob\": CN mismatch` (auth.c CheckCertAuth): the password was right, the certificate is another user's.")))
        add(["trust clientcert=verify-full, certificate of another user"],
            Sides(client: Expectation("cert-name-mismatch", "A trust line can only fail through clientcert=verify-full (auth.c ClientAuthentication → CheckCertAuth): the certificate's CN is not the user."),
                  server: Expectation("cert-name-mismatch", "The log says `certificate validation (clientcert=verify-full) failed for user \"bob\": CN mismatch` (auth.c CheckCertAuth).")))
        add(["cert without map, CN other than user", "-U bob with alice's certificate", "service from PGSERVICE, another user",
             "simulation (files): no map, CN other than user", "simulation (--admin): no map, CN other than user"],
            Sides(client: certificateLoginFailed, server: providedUserNameMismatch))
        add(["cert map=certmap, unmapped user", "simulation (files): certmap, unmapped user", "simulation (--admin): certmap, unmapped user",
             "simulation with an edited pg_hba.conf"],
            Sides(client: certificateLoginFailed, server: usermapNoMatch))
        add(["clientname=DN map, unmapped user", "simulation (files): DN map, unmapped user", "simulation (--admin): DN map, unmapped user",
             "--no-connect: DN map, unmapped user"],
            Sides(client: certificateLoginFailed, server: usermapNoMatch))
        add(["server without ssl_ca_file"],
            Sides(client: Expectation("server-no-ca", "auth.c ClientAuthentication: the line wants a client certificate and the server has no ssl_ca_file (secure_loaded_verify_locations() is false), so it never asked for one."),
                  server: Expectation("server-no-ca", "auth.c ClientAuthentication: the line wants a client certificate and the server has no ssl_ca_file (secure_loaded_verify_locations() is false), so it never asked for one.")))

        // authorization
        let roleMissing = Expectation("role-missing", "Authentication passed; postinit.c InitializeSessionUserId: no role of that name.")
        add(["missing role"], Sides(client: roleMissing, server: roleMissing))
        let cannotLogin = Expectation("role-cannot-login", "Authentication passed; postinit.c InitializeSessionUserId: the role is NOLOGIN.")
        add(["role that cannot log in"], Sides(client: cannotLogin, server: cannotLogin))
        let databaseMissing = Expectation("database-missing", "Authentication passed; postinit.c InitPostgres: no database of that name.")
        add(["missing database"], Sides(client: databaseMissing, server: databaseMissing))
        let connectDenied = Expectation("connect-denied", "Authentication passed; postinit.c CheckMyDatabase: the role has no CONNECT privilege on the database.")
        add(["CONNECT revoked"], Sides(client: connectDenied, server: connectDenied))
        return table
    }()
}
