import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// Every diagnosis code of the client-files, network and tls layers, produced by the real
/// condition against the real server (certificates from scripts/make-test-fixtures.sh), and
/// checked the way a script reads it: `pgconnect-check --format json` and its exit status.
final class DiagnosisMatrixTests: XCTestCase {
    var server: TestServer!
    var fixtures: String { server.fixtures }
    var scratch: URL!

    override func setUp() async throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh (PGCONNECT_TEST_ENV, PGCONNECT_TEST_FIXTURES)")
        }
        self.server = server
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path)
    }

    override func tearDown() async throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    /// A conninfo for a certificate login with fixture files (names relative to the fixtures directory).
    func conninfo(user: String = "alice", cert: String = "main/alice.crt", key: String? = "main/alice.key",
                  root: String = "main/root.crt", sslmode: String = "verify-full", host: String = "127.0.0.1",
                  extra: [String: String] = [:]) -> String {
        var options = ConnectionOptions()
        options.host = [host]
        if host != "127.0.0.1" { options.hostaddr = ["127.0.0.1"] }
        options.port = [server.port]
        options.dbname = "postgres"
        options.user = user
        options["sslmode"] = sslmode
        options.sslrootcert = root.hasPrefix("/") ? root : "\(fixtures)/\(root)"
        options.sslcert = cert.hasPrefix("/") ? cert : "\(fixtures)/\(cert)"
        if let key { options.sslkey = key.hasPrefix("/") ? key : "\(fixtures)/\(key)" }
        for (keyword, value) in extra { options[keyword] = value }
        return (try? options.conninfoString()) ?? ""
    }

    @discardableResult
    func expect(_ code: String, layer: String, status: Int32, _ arguments: [String], user: String? = nil,
                executable: URL? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
        let result = try CLIRun.run(["--format", "json"] + arguments, executable: executable, user: user)
        let diagnosis = result.diagnosis
        XCTAssertEqual(diagnosis?["code"] as? String, code, "\(result.stdout)\n\(result.stderr)", file: file, line: line)
        XCTAssertEqual(diagnosis?["layer"] as? String, layer, file: file, line: line)
        XCTAssertEqual(result.status, status, file: file, line: line)
        XCTAssertFalse((diagnosis?["fixes"] as? [String] ?? []).isEmpty, "a diagnosis names a fix", file: file, line: line)
        return result
    }

    func expectSuccess(_ arguments: [String], user: String? = nil, executable: URL? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
        let result = try CLIRun.run(["--format", "json"] + arguments, executable: executable, user: user)
        XCTAssertEqual(result.status, 0, "\(result.stdout)\n\(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.json?["ok"] as? Bool, true, file: file, line: line)
        return result
    }

    func copy(_ fixture: String, to name: String, mode: Int, owner: String? = nil) throws -> String {
        let destination = scratch.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: destination)
        try FileManager.default.copyItem(atPath: "\(fixtures)/\(fixture)", toPath: destination)
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: mode]
        if let owner { attributes[.ownerAccountName] = owner }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: destination)
        return destination
    }

    // MARK: client-files

    func testNamedCertificateThatDoesNotExistIsReportedNotIgnored() throws {
        // libpq first: libpq silently sends no certificate and the server refuses the login (exit
        // 1); the diagnosis names the missing file, with the server's words as libpq's message.
        let result = try expect("cert-file-missing", layer: "client-files", status: 1, [conninfo(cert: "main/nope/alice.crt")])
        XCTAssertEqual(result.json?["outcome"] as? String, "refused")
        XCTAssertTrue((result.diagnosis?["libpq_message"] as? String)?.contains("connection requires a valid client certificate") ?? false,
                      result.stdout)
    }

    func testMissingKeyFile() throws {
        try expect("key-file-missing", layer: "client-files", status: 3, [conninfo(key: "main/missing.key")])
    }

    func testMissingRootCertificateUnderVerifyFull() throws {
        try expect("root-cert-missing", layer: "client-files", status: 3, [conninfo(root: "main/missing-root.crt")])
        try expect("root-cert-missing", layer: "client-files", status: 3, [conninfo(root: "main/missing-root.crt", sslmode: "verify-ca")])
    }

    func testCertificateFileThatIsNotPEM() throws {
        let garbage = scratch.appendingPathComponent("garbage.crt").path
        try "this is not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        try expect("cert-unparsable", layer: "client-files", status: 3, [conninfo(cert: garbage)])
    }

    func testKeyPermissionsAsRootFollowLibpqsRootRule() throws {
        let open = try copy("main/alice.key", to: "open.key", mode: 0o644)
        let result = try expect("key-permissions", layer: "client-files", status: 3, [conninfo(key: open)])
        XCTAssertTrue((result.diagnosis?["fixes"] as? [String])?.first?.hasPrefix("chmod 600 \(open)") ?? false)
        // Owned by root, u=rw,g=r is allowed.
        let groupReadable = try copy("main/alice.key", to: "group.key", mode: 0o640)
        _ = try expectSuccess([conninfo(key: groupReadable)])
    }

    func testKeyPermissionsAndReadabilityAsANonRootUser() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to run the check as another OS user") }
        // The binary and the files it reads, where the OS user nobody can reach them.
        let binary = scratch.appendingPathComponent("pgconnect-check")
        try FileManager.default.copyItem(at: CLIRun.binary, to: binary)
        let certificate = try copy("main/alice.crt", to: "alice.crt", mode: 0o644)
        let root = try copy("main/root.crt", to: "root.crt", mode: 0o644)
        let groupReadable = try copy("main/alice.key", to: "nobody-group.key", mode: 0o640, owner: "nobody")
        try expect("key-permissions", layer: "client-files", status: 3,
                   [conninfo(cert: certificate, key: groupReadable, root: root)], user: "nobody", executable: binary)
        let ownedByRoot = try copy("main/alice.key", to: "root-only.key", mode: 0o600)
        let unreadable = try expect("file-unreadable", layer: "client-files", status: 3,
                                    [conninfo(cert: certificate, key: ownedByRoot, root: root)], user: "nobody", executable: binary)
        XCTAssertTrue((unreadable.diagnosis?["summary"] as? String)?.contains("nobody") ?? false)
        let own = try copy("main/alice.key", to: "nobody.key", mode: 0o600, owner: "nobody")
        _ = try expectSuccess([conninfo(cert: certificate, key: own, root: root)], user: "nobody", executable: binary)
    }

    func testEncryptedKeyWithoutWrongAndRightPassphrase() throws {
        try expect("key-encrypted", layer: "client-files", status: 3, [conninfo(key: "main/alice.enc.key")])
        let wrong = scratch.appendingPathComponent("wrong").path
        try "not-the-passphrase\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        let result = try expect("key-encrypted", layer: "client-files", status: 3,
                                [conninfo(key: "main/alice.enc.key"), "--sslpassword-file", wrong])
        XCTAssertFalse(result.stdout.contains("not-the-passphrase"))
        let right = scratch.appendingPathComponent("right").path
        try "secret\n".write(toFile: right, atomically: true, encoding: .utf8)
        _ = try expectSuccess([conninfo(key: "main/alice.enc.key"), "--sslpassword-file", right])
    }

    func testKeyThatDoesNotMatchTheCertificate() throws {
        try expect("key-cert-mismatch", layer: "client-files", status: 3, [conninfo(key: "main/bob.key")])
    }

    func testExpiredClientCertificate() throws {
        try expect("client-cert-expired", layer: "client-files", status: 2, [conninfo(user: "old", cert: "main/old.crt", key: "main/old.key")])
    }

    func testClientCertificateNotYetValid() throws {
        try expect("client-cert-not-yet-valid", layer: "client-files", status: 2,
                   [conninfo(user: "future", cert: "main/future.crt", key: "main/future.key")])
    }

    func testClientCertificateWithoutClientAuthUsage() throws {
        try expect("client-cert-wrong-usage", layer: "client-files", status: 2,
                   [conninfo(user: "wrongusage", cert: "main/wrongusage.crt", key: "main/wrongusage.key")])
    }

    func testLeafOnlyCertificateFileUnderAnIntermediateCA() throws {
        let result = try expect("client-cert-chain-incomplete", layer: "client-files", status: 2,
                                [conninfo(user: "ivan", cert: "inter/ivan.leaf.crt", key: "inter/ivan.key")])
        XCTAssertTrue((result.diagnosis?["fixes"] as? [String])?.first?.contains("inter/intermediate.crt") ?? false,
                      "\(result.diagnosis ?? [:])")
        // With the intermediate in the file, the same key logs in.
        _ = try expectSuccess([conninfo(user: "ivan", cert: "inter/ivan.crt", key: "inter/ivan.key")])
    }

    // MARK: tls: the client certificate

    func testClientCertificateFromACAtheServerDoesNotTrust() throws {
        let result = try expect("client-cert-unknown-ca", layer: "tls", status: 2,
                                [conninfo(user: "stranger", cert: "other/stranger.crt", key: "other/stranger.key")])
        let names = (result.json?["tls"] as? [String: Any])?["client_ca_names"] as? [String] ?? []
        XCTAssertEqual(names.count, 2, "the server's two accepted roots: \(names)")
    }

    func testRevokedClientCertificateWithServerCRL() async throws {
        try await server.withSettings(["ssl_crl_file": "\(fixtures)/crl-bundle.pem"]) {
            try expect("client-cert-revoked", layer: "tls", status: 2, [conninfo(user: "carol", cert: "main/carol.crt", key: "main/carol.key")])
            _ = try expectSuccess([conninfo()])
            _ = try expectSuccess([conninfo(user: "ivan", cert: "inter/ivan.crt", key: "inter/ivan.key")])
        }
    }

    func testServerCRLMissingForTheIntermediate() async throws {
        try await server.withSettings(["ssl_crl_file": "\(fixtures)/crl-root-only.pem"]) {
            let result = try expect("client-cert-unknown-ca", layer: "tls", status: 2,
                                    [conninfo(user: "ivan", cert: "inter/ivan.crt", key: "inter/ivan.key")])
            XCTAssertTrue((result.diagnosis?["explanation"] as? String)?.contains("ssl_crl_file") ?? false)
            _ = try expectSuccess([conninfo()])
        }
    }

    // MARK: tls: the server certificate

    func testWrongRootCertificateUnderEveryVerifyingMode() throws {
        for mode in ["verify-full", "verify-ca", "require"] {
            let result = try expect("server-cert-untrusted", layer: "tls", status: 2, [conninfo(root: "other/root.crt", sslmode: mode)])
            let evidence = (result.diagnosis?["evidence"] as? [String] ?? []).joined(separator: "\n")
            XCTAssertTrue(evidence.contains("OpenSSL: self-signed certificate in certificate chain"),
                          "the X.509 reason libpq does not print: \(evidence)")
        }
    }

    func testExpiredServerCertificate() async throws {
        try await server.withSettings(["ssl_cert_file": "\(fixtures)/main/server-expired.crt",
                                       "ssl_key_file": "\(fixtures)/main/server-expired.server-owned.key"]) {
            try expect("server-cert-expired", layer: "tls", status: 2, [conninfo()])
        }
    }

    func testServerCertificateRevokedByTheClientsCRL() throws {
        // A CRL from the server's CA that revokes the server's own certificate, made with openssl ca.
        let directory = scratch.appendingPathComponent("ca").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "".write(toFile: "\(directory)/index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: "\(directory)/crlnumber", atomically: true, encoding: .utf8)
        try """
            [ ca ]
            default_ca = local
            [ local ]
            database = \(directory)/index.txt
            crlnumber = \(directory)/crlnumber
            default_md = sha256
            default_crl_days = 30
            """.write(toFile: "\(directory)/ca.cnf", atomically: true, encoding: .utf8)
        let ca = ["-config", "\(directory)/ca.cnf", "-keyfile", "\(fixtures)/main/root.key", "-cert", "\(fixtures)/main/root.crt", "-batch"]
        try CertificateFactory.openssl(["ca"] + ca + ["-revoke", "\(fixtures)/main/server.crt"])
        try CertificateFactory.openssl(["ca"] + ca + ["-gencrl", "-out", "\(directory)/crl.pem"])
        let result = try expect("server-cert-revoked", layer: "tls", status: 2, [conninfo(extra: ["sslcrl": "\(directory)/crl.pem"])])
        let evidence = (result.diagnosis?["evidence"] as? [String] ?? []).joined(separator: "\n")
        XCTAssertTrue(evidence.contains("certificate revoked"), evidence)
    }

    func testHostNameMismatchByIPAndByName() async throws {
        try await server.withSettings(["ssl_cert_file": "\(fixtures)/main/server-other.crt",
                                       "ssl_key_file": "\(fixtures)/main/server-other.server-owned.key"]) {
            let byIP = try expect("server-name-mismatch", layer: "tls", status: 2, [conninfo()])
            XCTAssertTrue((byIP.diagnosis?["fixes"] as? [String])?.first?.contains("host=db.example.test hostaddr=127.0.0.1") ?? false,
                          "\(byIP.diagnosis ?? [:])")
            try expect("server-name-mismatch", layer: "tls", status: 2, [conninfo(host: "localhost")])
            // verify-ca does not check the name.
            _ = try expectSuccess([conninfo(sslmode: "verify-ca")])
        }
    }

    func testTutorialSetupWorksButIsFlagged() async throws {
        try await server.withSettings(["ssl_cert_file": "\(fixtures)/tutorial/server.crt",
                                       "ssl_key_file": "\(fixtures)/tutorial/server.server-owned.key",
                                       "ssl_ca_file": "\(fixtures)/tutorial/server.crt"]) {
            let tutorial = conninfo(cert: "tutorial/alice.crt", key: "tutorial/alice.key", root: "tutorial/root.crt", host: "localhost")
            let result = try expectSuccess([tutorial])
            XCTAssertTrue(result.warningCodes.contains("server-cert-is-ca"), "\(result.warningCodes)")
            XCTAssertTrue(result.warningCodes.contains("server-cert-cn-only"), "\(result.warningCodes)")
            // No IP SAN: connecting by address fails verify-full.
            try expect("server-name-mismatch", layer: "tls", status: 2,
                       [conninfo(cert: "tutorial/alice.crt", key: "tutorial/alice.key", root: "tutorial/root.crt")])
        }
    }

    func testNoCommonTLSVersion() async throws {
        try await server.withSettings(["ssl_min_protocol_version": "TLSv1.3"]) {
            try expect("tls-version-mismatch", layer: "tls", status: 2, [conninfo(extra: ["ssl_max_protocol_version": "TLSv1.2"])])
        }
    }

    // MARK: network

    func testServerWithSSLOff() async throws {
        try await server.withSettings(["ssl": "off"]) {
            try expect("ssl-not-supported", layer: "network", status: 2, [conninfo(sslmode: "require")])
        }
    }

    // MARK: authentication and warnings on logins that work

    func testNoClientCertificateWhenTheServerRequiresOne() throws {
        var options = try ConnectionOptions(conninfo: conninfo())
        options.sslcert = nil
        options.sslkey = nil
        let result = try expect("client-cert-required", layer: "authentication", status: 1, [try options.conninfoString()])
        XCTAssertEqual(result.diagnosis?["sqlstate"] as? String, "28000")
    }

    func testPreferFallbackIsExplainedByTheTLSAttempt() throws {
        let result = try expect("cert-name-mismatch", layer: "authentication", status: 1, [conninfo(user: "bob", sslmode: "prefer")])
        XCTAssertEqual((result.diagnosis?["evidence"] as? [String])?.filter { $0.hasPrefix("attempt ") }.count, 2)
    }

    func testRequireWithoutRootCertificateWarnsThatTheServerIsUnverified() throws {
        let result = try expectSuccess([conninfo(root: "main/no-such-root.crt", sslmode: "require")])
        XCTAssertEqual(result.warningCodes, ["sslmode-unverified"])
        let withRoot = try expectSuccess([conninfo(sslmode: "require")])
        let summary = (withRoot.json?["warnings"] as? [[String: Any]])?.first?["summary"] as? String ?? ""
        XCTAssertTrue(summary.contains("only because"), "require verifies the chain when the root file exists: \(summary)")
    }

    func testCertificatesExpiringWithinTheWarningWindow() throws {
        let quiet = try expectSuccess([conninfo()])
        XCTAssertEqual(quiet.warningCodes, [], "fixtures are valid for 825 days")
        let result = try expectSuccess([conninfo(), "--expiry-warning", "1000"])
        XCTAssertEqual(Set(result.warningCodes), ["client-cert-expiring", "server-cert-expiring"])
    }

    func testTextReportShowsLayersInOrder() throws {
        let result = try CLIRun.run([conninfo(user: "stranger", cert: "other/stranger.crt", key: "other/stranger.key")],
                                    environment: ["NO_COLOR": "1"])
        XCTAssertEqual(result.status, 2)
        let layers = result.stdout.split(separator: "\n").compactMap { line -> String? in
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, ["✔", "✘", "!", "-"].contains(String(parts[0])) else { return nil }
            return String(parts[1])
        }
        let order = ["config", "client-files", "network", "tls", "authentication", "authorization", "session"]
        let positions = layers.compactMap { order.firstIndex(of: $0) }
        XCTAssertEqual(positions, positions.sorted(), "\(layers)")
        XCTAssertTrue(result.stdout.contains("client-cert-unknown-ca"))
    }
}
