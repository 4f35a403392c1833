import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect

/// Certificate logins against the real server from scripts/test.sh.
final class ConnectionTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
    }

    func testCertificateLoginSucceedsWithTimingsAndTLSSession() async throws {
        let connection = try await Connection.connect(server.options(), timeout: .seconds(10))
        let user = try await connection.query("SELECT current_user")
        XCTAssertEqual(user[0][0].string, "alice")

        let timings = connection.timings
        let marks = [timings.resolved, timings.tcpConnected, timings.tlsEstablished, timings.authenticated, timings.ready]
        XCTAssertTrue(marks.allSatisfy { $0 != nil }, "every phase is timed: \(timings)")
        let values = marks.compactMap { $0 }
        XCTAssertEqual(values, values.sorted(), "phases end in order")
        XCTAssertEqual(timings.phaseDurations.map(\.phase), ["dns", "tcp", "tls", "authentication", "total"])

        let tls = try XCTUnwrap(connection.tlsSession)
        XCTAssertEqual(tls.library, "OpenSSL")
        XCTAssertTrue(tls.protocolVersion == "TLSv1.3" || tls.protocolVersion == "TLSv1.2")
        XCTAssertNotNil(tls.cipher)
        XCTAssertGreaterThan(tls.keyBits ?? 0, 0)
        let certificate = try XCTUnwrap(tls.serverCertificate)
        XCTAssertEqual(certificate.commonName, "localhost")
        XCTAssertEqual(certificate.subject, "CN=localhost")
        XCTAssertTrue(certificate.subjectAlternativeNames.contains("DNS:localhost"))
        XCTAssertTrue(certificate.subjectAlternativeNames.contains("IP:127.0.0.1"))
        XCTAssertTrue(certificate.issuer.contains("pgconnect Root CA"))
        XCTAssertTrue(certificate.isValid())
        XCTAssertFalse(certificate.isCA)
        XCTAssertEqual(certificate.extendedKeyUsage, ["serverAuth"])
        XCTAssertEqual(certificate.sha256Fingerprint.count, 32 * 3 - 1)
        XCTAssertGreaterThan(connection.serverVersion, 100_000)
        XCTAssertEqual(connection.effectiveOptions.sslmode, .verifyFull)
        XCTAssertNil(connection.effectiveOptions.sslpassword)

        let dn = try await connection.query("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        XCTAssertEqual(dn[0][0].string, "/O=pgconnect/CN=alice")
        await connection.close()
        await connection.close()  // closing twice is safe
        XCTAssertTrue(connection.isClosed)
    }

    /// Only attempts that need no name lookup start on the calling thread (libpq resolves names
    /// with a blocking getaddrinfo); a host name goes through the connection's queue and works the same.
    func testHostNamesAreResolvedOffTheCallingThread() async throws {
        func noLookup(_ conninfo: String) throws -> Bool { ConnectOperation.needsNoLookup(try ConnectionOptions(conninfo: conninfo)) }
        XCTAssertTrue(try noLookup("host=127.0.0.1"))
        XCTAssertTrue(try noLookup("host=::1"))
        XCTAssertTrue(try noLookup("host=/var/run/postgresql"))
        XCTAssertTrue(try noLookup("host=db.internal hostaddr=10.0.0.1"))
        XCTAssertTrue(try noLookup("host=10.0.0.1,/tmp"))
        XCTAssertFalse(try noLookup("host=db.internal"))
        XCTAssertFalse(try noLookup("host=localhost"))
        XCTAssertFalse(try noLookup("host=a,b hostaddr=10.0.0.1,"), "the second host has no address")
        XCTAssertFalse(try noLookup("host=127.0.0.1 service=production"), "a service file may name hosts")

        var options = server.options()
        options.host = ["localhost"]
        options.hostaddr = []
        let connection = try await Connection.connect(options, timeout: .seconds(10))
        let answer = try await connection.query("SELECT 1")
        XCTAssertEqual(answer[0][0].int, 1)
        await connection.close()
    }

    func testCertificateForAnotherUserIsRefusedWithSQLState() async throws {
        do {
            _ = try await Connection.connect(server.options(user: "bob", certificate: "alice"), timeout: .seconds(10))
            XCTFail("bob must not log in with alice's certificate")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .authenticationFailed)
            XCTAssertEqual(error.sqlState, "28000")
            XCTAssertEqual(error.severity, "FATAL")
            XCTAssertEqual(error.phase, .authentication)
            XCTAssertEqual(error.primaryMessage, "certificate authentication failed for user \"bob\"")
            XCTAssertTrue(error.message.contains("certificate authentication failed for user \"bob\""))
        }
    }

    /// A TLS 1.3 server rejects a client certificate after the handshake: the error keeps libpq's
    /// session (the server's chain, the CAs it accepts) so that no second handshake is needed.
    func testRejectionAfterTheHandshakeKeepsLibpqsSession() async throws {
        var options = server.options(user: "stranger")
        options.sslcert = "\(server.otherPKI)/stranger.crt"
        options.sslkey = "\(server.otherPKI)/stranger.key"
        options["ssl_max_protocol_version"] = "TLSv1.3"
        do {
            _ = try await Connection.connect(options, timeout: .seconds(10))
            XCTFail("a certificate from a CA the server does not trust must be refused")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.primaryMessage, "SSL error: tlsv1 alert unknown ca")
            let session = try XCTUnwrap(error.handshake, "libpq's session from the handshake")
            XCTAssertEqual(session.protocolVersion, "TLSv1.3")
            XCTAssertFalse(session.peerCertificates.isEmpty)
            XCTAssertFalse(session.clientCANames.isEmpty, "the CAs of the server's ssl_ca_file")
        }
        // A handshake that fails keeps nothing: the session never existed.
        var untrusted = server.options()
        untrusted.sslrootcert = "\(server.otherPKI)/root.crt"
        do {
            _ = try await Connection.connect(untrusted, timeout: .seconds(10))
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertNil(error.handshake)
        }
    }

    func testPreferFallbackKeepsEachAttemptsMessage() async throws {
        do {
            _ = try await Connection.connect(server.options(user: "bob", certificate: "alice", sslmode: .prefer), timeout: .seconds(10))
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.attempts.count, 2, error.message)
            XCTAssertEqual(error.attempts[0].primary, "certificate authentication failed for user \"bob\"")
            XCTAssertTrue(error.attempts[1].primary.contains("no encryption"), error.attempts[1].primary)
        }
    }

    func testUntrustedServerCertificateFailsInTLS() async throws {
        var options = server.options()
        options.sslrootcert = "\(server.otherPKI)/root.crt"
        do {
            _ = try await Connection.connect(options, timeout: .seconds(10))
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .connectionFailed)
            XCTAssertEqual(error.phase, .tls)
            XCTAssertEqual(error.primaryMessage, "SSL error: certificate verify failed")
            XCTAssertNil(error.sqlState)
        }
    }

    func testEncryptedKeyWithoutPasswordFailsClearlyAndNeverPrompts() async throws {
        var options = server.options()
        options.sslkey = "\(server.pki)/alice.enc.key"
        do {
            _ = try await Connection.connect(options, timeout: .seconds(10))
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .keyPassphraseRequired)
            XCTAssertTrue(error.message.contains("could not load private key file"), error.message)
            XCTAssertTrue(error.description.contains("sslpassword"), error.description)
        }
        options.sslpassword = "secret"
        let connection = try await Connection.connect(options, timeout: .seconds(10))
        let who = try await connection.query("SELECT current_user")
        XCTAssertEqual(who[0][0].string, "alice")
        await connection.close()
    }

    func testWrongKeyPasswordIsNotReportedAsMissing() async throws {
        var options = server.options()
        options.sslkey = "\(server.pki)/alice.enc.key"
        options.sslpassword = "wrong-password"
        do {
            _ = try await Connection.connect(options, timeout: .seconds(10))
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .connectionFailed)
            XCTAssertTrue(error.message.contains("bad decrypt"), error.message)
            XCTAssertFalse(error.description.contains("wrong-password"))
            XCTAssertFalse(error.debugDescription.contains("wrong-password"))
        }
    }

    func testRefusedPortFailsWhileConnecting() async throws {
        var options = server.options()
        options.port = [1]
        do {
            _ = try await Connection.connect(options, timeout: .seconds(10))
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.phase, .connecting)
            XCTAssertTrue(error.message.contains("Connection refused"), error.message)
        }
    }

    func testInvalidOptionValueFailsBeforeAnyIO() async throws {
        var options = server.options()
        options["sslmode"] = "verify_full"
        do {
            _ = try await Connection.connect(options)
            XCTFail("must fail")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .invalidOptions)
            XCTAssertEqual(error.phase, .options)
            XCTAssertEqual(error.message.trimmingCharacters(in: .whitespacesAndNewlines), "invalid sslmode value: \"verify_full\"")
        }
    }

    func testDeadlineStopsAServerThatNeverAnswers() async throws {
        let silent = try SilentListener()
        var options = server.options()
        options.port = [silent.port]
        let start = ContinuousClock.now
        do {
            _ = try await Connection.connect(options, timeout: .milliseconds(300))
            XCTFail("must time out")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .overallTimeout, "no connect_timeout: the caller's limit, in pgconnect's words")
            XCTAssertEqual(error.phase, .tls, "TCP connected; the SSLRequest got no answer")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
    }

    func testCancellingTheTaskStopsTheAttempt() async throws {
        let silent = try SilentListener()
        var options = server.options()
        options.port = [silent.port]
        let task = Task { try await Connection.connect(options) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("must be cancelled")
        } catch let error as ConnectionError {
            XCTAssertEqual(error.code, .cancelled)
        }
    }

    func testManyConcurrentConnectionsDoNotBlockEachOther() async throws {
        let options = server.options()
        try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let connection = try await Connection.connect(options, timeout: .seconds(20))
                    let user = try await connection.query("SELECT current_user")[0][0].string
                    await connection.close()
                    return user
                }
            }
            for try await user in group { XCTAssertEqual(user, "alice") }
        }
    }
}
