import Foundation
import PGTestSupport
import XCTest

/// `pgconnect-check server` against real data directories made by initdb (one template, copied per
/// case): for every server-side failure the check predicts, the real server then fails to start (or
/// keeps its previous files on reload) exactly as predicted, with the message it logs; `--client-cert`
/// answers agree with real logins; the popular tutorial's setup is checked step by step.
final class ServerSetupTests: XCTestCase {
    static let lab: Result<ServerLab?, Error> = Result { try ServerLab.make() }

    override class func tearDown() {
        if case .success(let lab?) = lab { lab.cleanup() }
        super.tearDown()
    }

    var lab: ServerLab!
    var fixtures: String!

    override func setUpWithError() throws {
        guard let fixtures = ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] else {
            throw XCTSkip("needs the certificates from scripts/test.sh (PGCONNECT_TEST_FIXTURES)")
        }
        guard let lab = try Self.lab.get() else {
            throw XCTSkip("needs root, the postgres OS user and PostgreSQL's binaries to run real servers")
        }
        self.lab = lab
        self.fixtures = fixtures
    }

    // MARK: Helpers

    /// A data directory with TLS on: main/server.crt and its key (postgres, 0600), main/root.crt as
    /// ssl_ca_file, and `hostssl all all 127.0.0.1/32 cert` before initdb's lines.
    func tlsDirectory(_ name: String, hba: [String] = ["hostssl all all 127.0.0.1/32 cert"], settings: [String] = []) throws -> String {
        let directory = try lab.dataDirectory(name)
        try lab.install("\(fixtures!)/main/server.crt", in: directory, as: "server.crt")
        try lab.install("\(fixtures!)/main/server.key", in: directory, as: "server.key", mode: 0o600)
        try lab.install("\(fixtures!)/ca-bundle.crt", in: directory, as: "root.crt")
        try lab.append(["ssl = on", "ssl_ca_file = 'root.crt'"] + settings, to: directory + "/postgresql.conf")
        let original = try String(contentsOfFile: directory + "/pg_hba.conf", encoding: .utf8)
        try lab.write(hba.joined(separator: "\n") + "\n" + original, in: directory, as: "pg_hba.conf")
        return directory
    }

    /// `pgconnect-check server ARGS --format json`.
    func check(_ arguments: [String]) throws -> CLIRun {
        try CLIRun.run(["server"] + arguments + ["--format", "json"])
    }

    func problems(_ run: CLIRun) -> [[String: Any]] { run.json?["problems"] as? [[String: Any]] ?? [] }
    func warnings(_ run: CLIRun) -> [String] { (run.json?["warnings"] as? [[String: Any]])?.compactMap { $0["code"] as? String } ?? [] }

    // MARK: Start

    /// One broken setup per case: the check predicts exit 3, the code and the server's message; the
    /// real server then refuses to start and logs exactly that message as FATAL (or, for
    /// postgresql.conf, as the LOG line before `FATAL: configuration file "…" contains errors`).
    func testEveryStartFailureIsPredictedWithTheMessageTheServerLogs() throws {
        let main = fixtures + "/main"
        let scratch = lab.root + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        // A key encrypted with a passphrase, a 512-bit RSA certificate, a file that is no CRL.
        try CertificateFactory.openssl(["pkey", "-in", "\(main)/server.key", "-aes256", "-passout", "pass:lab-passphrase",
                                        "-out", "\(scratch)/encrypted.key"])
        try CertificateFactory.openssl(["req", "-x509", "-newkey", "rsa:512", "-nodes", "-keyout", "\(scratch)/weak.key",
                                        "-out", "\(scratch)/weak.crt", "-subj", "/CN=weak", "-days", "30"])
        try "not a CRL\n".write(toFile: "\(scratch)/junk.crl", atomically: true, encoding: .utf8)
        // A certificate its CA signed with SHA-1, and the CA, in one file (leaf first).
        try CertificateFactory.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                        "-keyout", "\(scratch)/sha1-ca.key", "-out", "\(scratch)/sha1-ca.crt", "-subj", "/CN=sha1 CA", "-days", "30"])
        try CertificateFactory.openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                        "-keyout", "\(scratch)/sha1.key", "-out", "\(scratch)/sha1.csr", "-subj", "/CN=localhost"])
        try CertificateFactory.openssl(["x509", "-req", "-in", "\(scratch)/sha1.csr", "-CA", "\(scratch)/sha1-ca.crt", "-CAkey",
                                        "\(scratch)/sha1-ca.key", "-sha1", "-days", "30", "-set_serial", "7", "-out", "\(scratch)/sha1.leaf.crt"])
        let sha1Chain = try String(contentsOfFile: "\(scratch)/sha1.leaf.crt", encoding: .utf8) + String(contentsOfFile: "\(scratch)/sha1-ca.crt", encoding: .utf8)
        try sha1Chain.write(toFile: "\(scratch)/sha1.crt", atomically: true, encoding: .utf8)

        struct Case {
            var name: String
            var code: String
            var message: String
            var prepare: (String) throws -> Void
        }
        let cases: [Case] = [
            Case(name: "key-mode", code: "server-key-permissions", message: "private key file \"server.key\" has group or world access") {
                chmod($0 + "/server.key", 0o644)
            },
            Case(name: "key-owner", code: "server-key-owner", message: "private key file \"server.key\" must be owned by the database user or root") {
                chown($0 + "/server.key", 65534, 65534)
            },
            Case(name: "key-missing", code: "server-key-missing", message: "could not access private key file \"server.key\": No such file or directory") {
                try FileManager.default.removeItem(atPath: $0 + "/server.key")
            },
            Case(name: "cert-missing", code: "server-cert-missing", message: "could not load server certificate file \"server.crt\": No such file or directory") {
                try FileManager.default.removeItem(atPath: $0 + "/server.crt")
            },
            Case(name: "cert-unreadable", code: "server-file-unreadable", message: "could not load server certificate file \"server.crt\": Permission denied") {
                chown($0 + "/server.crt", 0, 0)
                chmod($0 + "/server.crt", 0o600)
            },
            Case(name: "key-mismatch", code: "server-key-cert-mismatch", message: "could not load private key file \"server.key\": key values mismatch") { [lab] in
                try lab!.install("\(main)/server-other.key", in: $0, as: "server.key", mode: 0o600)
            },
            Case(name: "cert-weak", code: "server-cert-too-weak", message: "could not load server certificate file \"server.crt\": ee key too small") { [lab] in
                try lab!.install("\(scratch)/weak.crt", in: $0, as: "server.crt")
                try lab!.install("\(scratch)/weak.key", in: $0, as: "server.key", mode: 0o600)
            },
            Case(name: "cert-sha1", code: "server-cert-too-weak", message: "could not load server certificate file \"server.crt\": ca md too weak") { [lab] in
                try lab!.install("\(scratch)/sha1.crt", in: $0, as: "server.crt")
                try lab!.install("\(scratch)/sha1.key", in: $0, as: "server.key", mode: 0o600)
            },
            Case(name: "ca-missing", code: "server-ca-file-missing", message: "could not load root certificate file \"nothere.crt\": No such file or directory") { [lab] in
                try lab!.append(["ssl_ca_file = 'nothere.crt'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "crl-junk", code: "server-crl-invalid", message: "could not load SSL certificate revocation list file \"junk.crl\"") { [lab] in
                try lab!.install("\(scratch)/junk.crl", in: $0, as: "junk.crl")
                try lab!.append(["ssl_crl_file = 'junk.crl'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "protocol-range", code: "server-tls-setting-invalid", message: "could not set SSL protocol version range") { [lab] in
                try lab!.append(["ssl_min_protocol_version = 'TLSv1.3'", "ssl_max_protocol_version = 'TLSv1.2'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "ciphers", code: "server-tls-setting-invalid", message: "could not set the cipher list (no valid ciphers available)") { [lab] in
                try lab!.append(["ssl_ciphers = 'NOSUCHCIPHER'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "curve", code: "server-tls-setting-invalid", message: "ECDH: unrecognized curve name: nocurve") { [lab] in
                try lab!.append(["ssl_ecdh_curve = 'nocurve'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "hba-clientcert-host", code: "hba-invalid-line", message: "clientcert can only be configured for \"hostssl\" rows") { [lab] in
                try lab!.append(["host all all 10.0.0.0/8 scram-sha-256 clientcert=verify-full"], to: $0 + "/pg_hba.conf")
            },
            Case(name: "hba-cert-host", code: "hba-invalid-line", message: "cert authentication is only supported on hostssl connections") { [lab] in
                try lab!.append(["host all all 10.0.0.0/8 cert"], to: $0 + "/pg_hba.conf")
            },
            Case(name: "conf-unquoted", code: "server-config-syntax-error", message: "near token \"server.crt\"") { [lab] in
                try lab!.append(["ssl_cert_file = server.crt"], to: $0 + "/postgresql.conf")
            },
            Case(name: "conf-unknown", code: "server-config-unknown-parameter", message: "unrecognized configuration parameter \"ssl_ca_files\"") { [lab] in
                try lab!.append(["ssl_ca_files = 'root.crt'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "conf-enum", code: "server-config-invalid-value", message: "invalid value for parameter \"ssl_min_protocol_version\": \"TLSv1.4\"") { [lab] in
                try lab!.append(["ssl_min_protocol_version = 'TLSv1.4'"], to: $0 + "/postgresql.conf")
            },
            Case(name: "conf-include", code: "server-config-file-missing", message: "could not open configuration file") { [lab] in
                try lab!.append(["include 'ssl.conf'"], to: $0 + "/postgresql.conf")
            },
        ]
        for testCase in cases {
            let directory = try tlsDirectory("start-" + testCase.name)
            try testCase.prepare(directory)
            let run = try check([directory])
            let diagnosis = run.diagnosis
            XCTAssertEqual(run.status, 3, "\(testCase.name): \(run.stdout)")
            XCTAssertEqual(run.json?["outcome"] as? String, "will-not-start", testCase.name)
            XCTAssertEqual(diagnosis?["code"] as? String, testCase.code, "\(testCase.name): \(run.stdout)")
            let predicted = diagnosis?["server_message"] as? String ?? ""
            XCTAssertTrue(predicted.contains(testCase.message), "\(testCase.name): predicted \(predicted)")

            let start = try lab.start(directory)
            if start.started { lab.stop(directory) }
            XCTAssertFalse(start.started, "\(testCase.name): the server started although the check predicted it would not")
            let logged = start.log.split(separator: "\n").filter { $0.contains("FATAL:") || $0.contains("LOG:") }
            XCTAssertTrue(logged.contains { $0.hasSuffix(":  " + predicted) },
                          "\(testCase.name): the server did not log the predicted \"\(predicted)\":\n\(start.log)")
        }
    }

    /// An encrypted key: the check says a start without a terminal fails and a reload cannot load
    /// it; the real server started without a terminal refuses to start.
    func testEncryptedKeyWithoutPassphraseCommandStopsTheStart() throws {
        let directory = try tlsDirectory("start-encrypted")
        try CertificateFactory.openssl(["pkey", "-in", "\(fixtures!)/main/server.key", "-aes256", "-passout", "pass:lab-passphrase",
                                        "-out", "\(directory)/server.key"])
        chown(directory + "/server.key", lab.user.uid, lab.user.gid)
        chmod(directory + "/server.key", 0o600)
        let run = try check([directory])
        XCTAssertEqual(run.status, 3, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-key-encrypted")
        let whatHappens = run.diagnosis?["what_happens"] as? String ?? ""
        XCTAssertTrue(whatHappens.contains("could not load private key file \"server.key\": processing error"), whatHappens)

        let start = try lab.start(directory)
        if start.started { lab.stop(directory) }
        XCTAssertFalse(start.started)
        XCTAssertTrue(start.log.contains("FATAL:  could not load private key file \"server.key\": processing error"), start.log)
    }

    /// ssl = off with a hostssl line: the check predicts the line never matches and the server
    /// runs; the real server starts, logs the message as a LOG (not an error) and loads the file.
    func testHostsslWithSSLOffLoadsButNeverMatches() throws {
        let directory = try lab.dataDirectory("start-ssl-off")
        try lab.append(["hostssl all all 127.0.0.1/32 cert"], to: directory + "/pg_hba.conf")
        let run = try check([directory])
        XCTAssertEqual(run.status, 2, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "ssl-not-supported")
        let never = problems(run).first { $0["code"] as? String == "hba-line-never-matches" }
        XCTAssertEqual(never?["server_message"] as? String, "hostssl record cannot match because SSL is disabled")

        let start = try lab.start(directory)
        defer { lab.stop(directory) }
        XCTAssertTrue(start.started, start.log)
        XCTAssertTrue(start.log.contains("LOG:  hostssl record cannot match because SSL is disabled"), start.log)
        let rules = try lab.admin(directory, port: start.port, "select type, error from pg_hba_file_rules where type = 'hostssl'")
        XCTAssertEqual(rules.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "hostssl|hostssl record cannot match because SSL is disabled")
    }

    // MARK: Reload

    /// A running server, then broken files: the check (reading the live data directory) predicts that
    /// a reload keeps the previous pg_hba.conf, pg_ident.conf, TLS settings and postgresql.conf; each
    /// real reload logs the predicted message and the server goes on with the previous files (a
    /// certificate login through the old rules still works).
    func testReloadKeepsThePreviousFilesAsPredicted() throws {
        let directory = try tlsDirectory("reload", hba: ["hostssl all all 127.0.0.1/32 cert map=certmap"])
        try lab.write("certmap alice alice\n", in: directory, as: "pg_ident.conf")
        let start = try lab.start(directory)
        defer { lab.stop(directory) }
        XCTAssertTrue(start.started, start.log)
        _ = try lab.admin(directory, port: start.port, "create role alice login")
        let login = "host=127.0.0.1 port=\(start.port) dbname=postgres user=alice sslmode=verify-full sslrootcert=\(fixtures!)/main/root.crt sslcert=\(fixtures!)/main/alice.crt sslkey=\(fixtures!)/main/alice.key"
        XCTAssertEqual(try lab.psql(login).status, 0, "the setup works before anything breaks")
        XCTAssertEqual(try check([directory]).status, 0)

        let hbaPath = directory + "/pg_hba.conf", confPath = directory + "/postgresql.conf"
        let goodHBA = try String(contentsOfFile: hbaPath, encoding: .utf8)
        let goodConf = try String(contentsOfFile: confPath, encoding: .utf8)

        // pg_hba.conf with an invalid line.
        try lab.append(["host all all 10.0.0.0/8 trust clientcert=verify-ca"], to: hbaPath)
        var run = try check([directory])
        XCTAssertEqual(run.diagnosis?["code"] as? String, "hba-invalid-line", run.stdout)
        // PostgreSQL 15 names the file "pg_hba.conf"; 16 and later give its path.
        let hbaNotReloaded = lab.majorVersion >= 16 ? "\(hbaPath) was not reloaded" : "pg_hba.conf was not reloaded"
        XCTAssertTrue((run.diagnosis?["what_happens"] as? String ?? "").contains("LOG: " + hbaNotReloaded), run.stdout)
        var gained = try lab.reload(directory, waitFor: "was not reloaded")
        XCTAssertTrue(gained.contains("LOG:  clientcert can only be configured for \"hostssl\" rows"), gained)
        XCTAssertTrue(gained.contains("LOG:  " + hbaNotReloaded), gained)
        XCTAssertEqual(try lab.psql(login).status, 0, "the previous pg_hba.conf is still in force")
        try lab.write(goodHBA, in: directory, as: "pg_hba.conf")

        // pg_ident.conf with an invalid regular expression.
        try lab.write("certmap alice alice\ncertmap /^(alice alice\n", in: directory, as: "pg_ident.conf")
        run = try check([directory])
        XCTAssertEqual(run.diagnosis?["code"] as? String, "ident-invalid-line", run.stdout)
        let identMessage = run.diagnosis?["server_message"] as? String ?? ""
        let identNotReloaded = lab.majorVersion >= 16 ? "\(directory)/pg_ident.conf was not reloaded" : "pg_ident.conf was not reloaded"
        gained = try lab.reload(directory, waitFor: identNotReloaded)
        XCTAssertTrue(gained.contains("LOG:  " + identMessage), "predicted \(identMessage), the server logged:\n\(gained)")
        XCTAssertTrue(gained.contains("LOG:  " + identNotReloaded), gained)
        XCTAssertEqual(try lab.psql(login).status, 0, "the previous maps are still in force")
        try lab.write("certmap alice alice\n", in: directory, as: "pg_ident.conf")

        // An encrypted key: the TLS settings are not reloaded.
        try CertificateFactory.openssl(["pkey", "-in", "\(fixtures!)/main/server.key", "-aes256", "-passout", "pass:lab-passphrase",
                                        "-out", "\(directory)/server.key"])
        chown(directory + "/server.key", lab.user.uid, lab.user.gid)
        chmod(directory + "/server.key", 0o600)
        run = try check([directory])
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-key-encrypted", run.stdout)
        let keyMessage = run.diagnosis?["server_message"] as? String ?? ""
        gained = try lab.reload(directory, waitFor: "SSL configuration was not reloaded")
        XCTAssertTrue(gained.contains("LOG:  " + keyMessage), "predicted \(keyMessage), the server logged:\n\(gained)")
        XCTAssertTrue(gained.contains("LOG:  SSL configuration was not reloaded"), gained)
        XCTAssertEqual(try lab.psql(login).status, 0, "the previous TLS settings are still in force")
        try lab.install("\(fixtures!)/main/server.key", in: directory, as: "server.key", mode: 0o600)

        // postgresql.conf with a syntax error: no change is applied.
        try lab.append(["ssl_min_protocol_version = 'TLSv1.3'", "ssl_ciphers = HIGH:MEDIUM 'x'"], to: confPath)
        run = try check([directory])
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-config-syntax-error", run.stdout)
        let confMessage = run.diagnosis?["server_message"] as? String ?? ""
        gained = try lab.reload(directory, waitFor: "no changes were applied")
        XCTAssertTrue(gained.contains("LOG:  " + confMessage), "predicted \(confMessage), the server logged:\n\(gained)")
        XCTAssertTrue(gained.contains("contains errors; no changes were applied"), gained)
        let minimum = try lab.admin(directory, port: start.port, "show ssl_min_protocol_version")
        XCTAssertEqual(minimum.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "TLSv1.2", "the earlier, valid line was not applied either")
        try lab.write(goodConf, in: directory, as: "postgresql.conf")
    }

    /// No ssl_ca_file and a cert line: the check predicts that the server never asks for a
    /// certificate and that logins through the line fail; a real login gets exactly that message.
    func testNoCAFileMeansNoCertificateLogin() throws {
        let directory = try tlsDirectory("no-ca")
        try lab.append(["ssl_ca_file = ''"], to: directory + "/postgresql.conf")
        let run = try check([directory])
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-no-ca")
        XCTAssertEqual(run.diagnosis?["consequence"] as? String, "never-asks-for-certificate")
        let predicted = run.diagnosis?["client_message"] as? String ?? ""

        let start = try lab.start(directory)
        defer { lab.stop(directory) }
        XCTAssertTrue(start.started, start.log)
        _ = try lab.admin(directory, port: start.port, "create role alice login")
        let login = try lab.psql("host=127.0.0.1 port=\(start.port) dbname=postgres user=alice sslmode=require sslcert=\(fixtures!)/main/alice.crt sslkey=\(fixtures!)/main/alice.key")
        XCTAssertNotEqual(login.status, 0)
        XCTAssertTrue(login.stderr.contains("FATAL:  " + predicted), "predicted \(predicted), psql said \(login.stderr)")
    }

    // MARK: Will this certificate log in?

    /// `--client-cert` answers for the lab cases (CN equal to the role, CN mismatch, DN map, regex map,
    /// untrusted CA, revoked, expired, wrong usage, an intermediate's chain, a CRL missing for the
    /// intermediate) agree with real logins by psql: the login works exactly when the check says so,
    /// a refused login's FATAL is the predicted one, and the client-side check (exact, with --admin)
    /// names the same code.
    func testClientCertAnswersAgreeWithRealLogins() throws {
        let directory = try tlsDirectory("logins", hba: [
            "hostssl cndb all 127.0.0.1/32 cert",
            "hostssl dndb all 127.0.0.1/32 cert clientname=DN map=dnmap",
            "hostssl rxdb all 127.0.0.1/32 cert map=rxmap",
        ], settings: ["ssl_crl_file = 'crl.pem'"])
        try lab.install("\(fixtures!)/crl-bundle.pem", in: directory, as: "crl.pem")
        try lab.write("dnmap \"CN=alice,O=pgconnect\" bob\nrxmap /^(.*)$ \\1_app\n", in: directory, as: "pg_ident.conf")
        let start = try lab.start(directory)
        defer { lab.stop(directory) }
        XCTAssertTrue(start.started, start.log)
        for role in ["alice", "bob", "carol", "old", "stranger", "wrongusage", "ivan", "alice_app"] {
            _ = try lab.admin(directory, port: start.port, "create role \(role) login")
        }
        for database in ["cndb", "dndb", "rxdb"] { _ = try lab.admin(directory, port: start.port, "create database \(database)") }
        let admin = "host=\(directory) port=\(start.port) user=postgres dbname=postgres"

        struct Login {
            var certificate: String
            var user: String
            var database: String
            var code: String?
        }
        let main = fixtures + "/main"
        var logins = [
            Login(certificate: "\(main)/alice", user: "alice", database: "cndb", code: nil),
            Login(certificate: "\(main)/alice", user: "bob", database: "cndb", code: "cert-name-mismatch"),
            Login(certificate: "\(main)/alice", user: "bob", database: "dndb", code: nil),
            Login(certificate: "\(main)/bob", user: "bob", database: "dndb", code: "ident-map-no-match"),
            Login(certificate: "\(main)/alice", user: "alice_app", database: "rxdb", code: nil),
            Login(certificate: "\(main)/bob", user: "alice_app", database: "rxdb", code: "ident-map-no-match"),
            Login(certificate: "\(fixtures!)/other/stranger", user: "stranger", database: "cndb", code: "client-cert-unknown-ca"),
            Login(certificate: "\(main)/carol", user: "carol", database: "cndb", code: "client-cert-revoked"),
            Login(certificate: "\(main)/old", user: "old", database: "cndb", code: "client-cert-expired"),
            Login(certificate: "\(main)/wrongusage", user: "wrongusage", database: "cndb", code: "client-cert-wrong-usage"),
            Login(certificate: "\(fixtures!)/inter/ivan", user: "ivan", database: "cndb", code: nil),
        ]
        func verify(_ login: Login) throws {
            let label = "\(login.certificate) as \(login.user) to \(login.database)"
            let run = try check([directory, "--client-cert", login.certificate + ".crt", "--user", login.user, "--database", login.database])
            XCTAssertEqual(run.diagnosis?["code"] as? String, login.code, "\(label): \(run.stdout)")
            XCTAssertEqual((run.json?["login"] as? [String: Any])?["succeeds"] as? Bool, login.code == nil, label)

            let conninfo = "host=127.0.0.1 port=\(start.port) dbname=\(login.database) user=\(login.user) sslmode=require sslcert=\(login.certificate).crt sslkey=\(login.certificate).key"
            let real = try lab.psql(conninfo)
            XCTAssertEqual(real.status == 0, login.code == nil, "\(label): the check predicted \(login.code ?? "success"), psql said \(real.stderr)")
            if let message = run.diagnosis?["client_message"] as? String, run.diagnosis?["layer"] as? String == "authentication" {
                XCTAssertTrue(real.stderr.contains("FATAL:  " + message), "\(label): predicted \(message), psql said \(real.stderr)")
            }
            if login.code != nil, run.diagnosis?["consequence"] as? String == "handshake-fails" {
                XCTAssertTrue(lab.readLog(directory).contains("could not accept SSL connection: certificate verify failed"), label)
            }
            // The client-side check, exact with the server's own view, names the same code.
            let client = try CLIRun.run(["--format", "json", conninfo, "--admin", admin])
            XCTAssertEqual(client.diagnosis?["code"] as? String, login.code, "\(label): check said \(client.stdout)")
        }
        for login in logins { try verify(login) }

        // Without the intermediate's CRL every chain through it fails (X509_V_FLAG_CRL_CHECK_ALL).
        try lab.install("\(fixtures!)/crl-root-only.pem", in: directory, as: "crl.pem")
        _ = try lab.reload(directory, waitFor: "received SIGHUP")
        logins = [Login(certificate: "\(fixtures!)/inter/ivan", user: "ivan", database: "cndb", code: "client-cert-unknown-ca")]
        for login in logins { try verify(login) }
    }

    // MARK: The tutorial, step by step

    /// The popular tutorial's server setup (a self-signed RSA-4096 server certificate, CN=localhost,
    /// no subjectAltName, used as the client CA; `ssl = on`; `hostssl all all 0.0.0.0/0 cert
    /// clientcert=verify-full`), checked after each step: what the server would do, and the warnings
    /// a careful DBA needs. The predictions of the first and last steps are proven with the real server.
    func testTutorialSetupStepByStep() throws {
        let tutorial = fixtures + "/tutorial"
        let directory = try lab.dataDirectory("tutorial")

        // 0. A fresh initdb: TLS off, no certificate line.
        var run = try check([directory])
        XCTAssertEqual(run.status, 2, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "ssl-not-supported")
        XCTAssertTrue(problems(run).contains { $0["code"] as? String == "hba-no-cert-line" })

        // 1. Copy the certificate and key in, ssl = on — the key still 0644.
        try lab.install(tutorial + "/server.crt", in: directory, as: "server.crt")
        try lab.install(tutorial + "/server.key", in: directory, as: "server.key", mode: 0o644)
        try lab.append(["ssl = on"], to: directory + "/postgresql.conf")
        run = try check([directory])
        XCTAssertEqual(run.status, 3, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-key-permissions")
        let start = try lab.start(directory)
        if start.started { lab.stop(directory) }
        XCTAssertFalse(start.started)
        XCTAssertTrue(start.log.contains("FATAL:  " + (run.diagnosis?["server_message"] as? String ?? "?")), start.log)

        // 2. chmod og-rwx server.key: the server starts, but never asks for a certificate.
        chmod(directory + "/server.key", 0o600)
        run = try check([directory])
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-no-ca")
        XCTAssertEqual(run.diagnosis?["consequence"] as? String, "never-asks-for-certificate")
        XCTAssertTrue(warnings(run).contains("server-cert-is-ca"))
        XCTAssertTrue(warnings(run).contains("server-cert-cn-only"))

        // 3. ssl_ca_file = 'root.crt', a copy of server.crt: the server's own certificate signs client certificates.
        try lab.install(tutorial + "/root.crt", in: directory, as: "root.crt")
        try lab.append(["ssl_ca_file = 'root.crt'"], to: directory + "/postgresql.conf")
        run = try check([directory])
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "hba-no-cert-line")
        let isCA = (run.json?["warnings"] as? [[String: Any]])?.first { $0["code"] as? String == "server-cert-is-ca" }
        XCTAssertTrue((isCA?["summary"] as? String ?? "").contains("whoever can read the server's key can mint a client certificate"), run.stdout)

        // 4. hostssl all all 0.0.0.0/0 cert clientcert=verify-full, after initdb's lines: ready, with warnings.
        try lab.append(["hostssl all all 0.0.0.0/0 cert clientcert=verify-full"], to: directory + "/pg_hba.conf")
        run = try check([directory, "--name", "localhost"])
        XCTAssertEqual(run.status, 0, run.stdout)
        XCTAssertTrue(warnings(run).contains("hba-any-address"), run.stdout)
        XCTAssertTrue(warnings(run).contains("hba-line-shadowed"), "initdb's host … 127.0.0.1/32 trust line takes local logins first")
        XCTAssertTrue(warnings(run).contains("server-cert-cn-only"))
        // Clients dialling the address fail verify-full: the certificate names only localhost.
        run = try check([directory, "--name", "127.0.0.1"])
        XCTAssertEqual(run.status, 2, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "server-name-mismatch")

        // 5. Will alice's certificate log in? From 127.0.0.1 the trust line decides; from elsewhere the cert line.
        run = try check([directory, "--client-cert", tutorial + "/alice.crt", "--user", "alice", "--database", "postgres"])
        XCTAssertEqual(run.status, 0, run.stdout)
        let local = (run.json?["login"] as? [String: Any])?["hba_line"] as? [String: Any]
        XCTAssertTrue((local?["text"] as? String ?? "").hasSuffix("trust"), run.stdout)
        run = try check([directory, "--client-cert", tutorial + "/alice.crt", "--user", "alice", "--database", "postgres",
                         "--client-addr", "192.0.2.10"])
        XCTAssertEqual(run.status, 0, run.stdout)
        let remote = (run.json?["login"] as? [String: Any])?["hba_line"] as? [String: Any]
        XCTAssertEqual(remote?["text"] as? String, "hostssl all all 0.0.0.0/0 cert clientcert=verify-full")
        run = try check([directory, "--client-cert", tutorial + "/alice.crt", "--user", "bob", "--database", "postgres",
                         "--client-addr", "192.0.2.10"])
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "cert-name-mismatch")

        // The real server starts and alice logs in with verify-full against localhost.
        let running = try lab.start(directory)
        defer { lab.stop(directory) }
        XCTAssertTrue(running.started, running.log)
        _ = try lab.admin(directory, port: running.port, "create role alice login")
        let login = try lab.psql("host=localhost port=\(running.port) dbname=postgres user=alice sslmode=verify-full sslrootcert=\(tutorial)/root.crt sslcert=\(tutorial)/alice.crt sslkey=\(tutorial)/alice.key")
        XCTAssertEqual(login.status, 0, login.stderr)
    }

    // MARK: postgresql.conf as the server reads it

    /// postgresql.conf variants read by the check and by the real server (`postgres -C`, which reads
    /// every file and exits): the same value wins (includes, include_dir order, hidden and non-.conf
    /// files skipped, postgresql.auto.conf, -c, quoting, duplicates), and where the server refuses the
    /// files the check predicts the line it logs.
    func testConfigurationIsReadAsTheServerReadsIt() throws {
        struct Case {
            var name: String
            var lines: [String]
            var files: [String: String] = [:]
            var autoConf: [String] = []
            var overrides: [String] = []
        }
        let cases = [
            Case(name: "include-dir", lines: ["include_dir 'conf.d'"],
                 files: ["conf.d/10-a.conf": "ssl_cert_file = 'a.crt'\n", "conf.d/20-b.conf": "ssl_cert_file = 'b.crt'\n",
                         "conf.d/.30-hidden.conf": "ssl_cert_file = 'hidden.crt'\n", "conf.d/40-c.txt": "ssl_cert_file = 'txt.crt'\n"]),
            Case(name: "include-relative", lines: ["include 'sub/ssl.conf'", "include_if_exists 'absent.conf'"],
                 files: ["sub/ssl.conf": "include 'deeper.conf'\n", "sub/deeper.conf": "ssl_cert_file 'deep.crt' # no equals sign\n"]),
            Case(name: "auto-conf", lines: ["ssl_cert_file = 'conf.crt'"], autoConf: ["ssl_cert_file = 'auto.crt'"]),
            Case(name: "override", lines: ["ssl_cert_file = 'conf.crt'"], autoConf: ["ssl_cert_file = 'auto.crt'"],
                 overrides: ["ssl_cert_file=cmd.crt"]),
            Case(name: "quoting", lines: ["ssl_cert_file = 'it''s \\'quoted\\' \\101.crt'"]),
            Case(name: "unquoted-path", lines: ["ssl_cert_file = certs/server.crt"]),
            Case(name: "duplicate-invalid-first", lines: ["ssl_min_protocol_version = 'TLSv9'", "ssl_min_protocol_version = 'tlsv1.3'"]),
            Case(name: "bool-prefix", lines: ["ssl = 'of'"]),
            Case(name: "unquoted-dotted", lines: ["ssl_cert_file = server.crt"]),
            Case(name: "missing-value", lines: ["ssl_cert_file ="]),
            Case(name: "trailing-token", lines: ["ssl_ciphers = 'HIGH' extra"]),
            Case(name: "bad-bool", lines: ["ssl_prefer_server_ciphers = 2"]),
            Case(name: "self-include", lines: ["include 'loop.conf'"], files: ["loop.conf": "include 'loop.conf'\n"]),
            Case(name: "missing-dir", lines: ["include_dir 'nodir'"]),
        ]
        let names = ["ssl_cert_file", "ssl_min_protocol_version", "ssl"]
        for testCase in cases {
            let directory = try lab.dataDirectory("conf-" + testCase.name)
            try lab.append(testCase.lines, to: directory + "/postgresql.conf")
            for (path, text) in testCase.files {
                let full = directory + "/" + path
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: full, atomically: true, encoding: .utf8)
            }
            if !testCase.autoConf.isEmpty { try lab.append(testCase.autoConf, to: directory + "/postgresql.auto.conf") }
            _ = try ProcessRunner.run(["/bin/chown", "-R", "postgres:", directory], environment: [:], timeout: 30)

            let run = try check([directory] + testCase.overrides.flatMap { ["-c", $0] })
            let code = run.diagnosis?["code"] as? String ?? ""
            for name in names {
                let real = try lab.show(directory, name, overrides: testCase.overrides)
                if code.hasPrefix("server-config-") {
                    let predicted = run.diagnosis?["server_message"] as? String ?? "?"
                    XCTAssertNotEqual(real.status, 0, "\(testCase.name): the server read the files")
                    XCTAssertTrue(real.stderr.contains("LOG:  " + predicted), "\(testCase.name): predicted \(predicted), the server said \(real.stderr)")
                    XCTAssertTrue(real.stderr.contains("FATAL:  configuration file \"\(directory)/postgresql.conf\" contains errors"), real.stderr)
                    break
                }
                XCTAssertEqual(real.status, 0, "\(testCase.name): \(real.stderr)")
                let setting = (run.json?["settings"] as? [[String: Any]])?.first { $0["name"] as? String == name }
                XCTAssertEqual(setting?["value"] as? String, real.stdout.trimmingCharacters(in: .newlines), "\(testCase.name): \(name)")
            }
        }
    }

    // MARK: The running server (--admin)

    /// `--admin` against a running server: ready; then a setting changed in postgresql.conf and a
    /// pg_hba.conf edit without a reload are reported as pending (and gone after the reload); a
    /// certificate whose role does not exist gets role-missing, as the real login does. Run as an OS
    /// user who cannot read the data directory, the check reads the server's views and copies of its
    /// certificate files through pg_read_file instead, and still answers the login.
    func testAdminReadsTheRunningServersView() throws {
        let directory = try tlsDirectory("admin")
        let start = try lab.start(directory)
        defer { lab.stop(directory) }
        XCTAssertTrue(start.started, start.log)
        _ = try lab.admin(directory, port: start.port, "create role alice login")
        let admin = "host=\(directory) port=\(start.port) user=postgres dbname=postgres"
        var run = try check(["--admin", admin])
        XCTAssertEqual(run.status, 0, run.stdout)
        let server = run.json?["server"] as? [String: Any]
        XCTAssertEqual(server?["source"] as? String, "admin")
        XCTAssertEqual(server?["version_source"] as? String, "server")
        XCTAssertEqual(server?["major_version"] as? Int, lab.majorVersion)

        // Files changed, no reload yet (pg_stat_file has whole seconds: edit in a later second).
        sleep(1)
        try lab.append(["ssl_min_protocol_version = 'TLSv1.3'", "max_connections = 50"], to: directory + "/postgresql.conf")
        try lab.append(["hostssl all all 10.0.0.0/8 cert"], to: directory + "/pg_hba.conf")
        run = try check(["--admin", admin])
        XCTAssertTrue(warnings(run).contains("server-settings-pending-reload"), run.stdout)
        XCTAssertTrue(warnings(run).contains("auth-file-changed"), run.stdout)
        let minimum = (run.json?["settings"] as? [[String: Any]])?.first { $0["name"] as? String == "ssl_min_protocol_version" }
        XCTAssertEqual(minimum?["value"] as? String, "TLSv1.2", "the running value")
        XCTAssertEqual(minimum?["pending_value"] as? String, "TLSv1.3", "what the files say")
        _ = try lab.reload(directory, waitFor: "parameter \"ssl_min_protocol_version\" changed")
        run = try check(["--admin", admin])
        XCTAssertFalse(warnings(run).contains("server-settings-pending-reload"), run.stdout)
        XCTAssertTrue(warnings(run).contains("server-settings-pending-restart"), "max_connections waits for a restart: \(run.stdout)")
        XCTAssertFalse(warnings(run).contains("auth-file-changed"), run.stdout)

        // A certificate whose role does not exist: only the running server knows.
        let bob = fixtures + "/main/bob"
        run = try check(["--admin", admin, "--client-cert", bob + ".crt", "--user", "bob", "--database", "postgres"])
        XCTAssertEqual(run.status, 1, run.stdout)
        XCTAssertEqual(run.diagnosis?["code"] as? String, "role-missing")
        let real = try lab.psql("host=127.0.0.1 port=\(start.port) dbname=postgres user=bob sslmode=require sslcert=\(bob).crt sslkey=\(bob).key")
        XCTAssertTrue(real.stderr.contains("FATAL:  " + (run.diagnosis?["client_message"] as? String ?? "?")), real.stderr)

        // From an OS user who cannot read the data directory: the views and pg_read_file.
        // (over TCP without TLS: initdb's host … trust line; the socket is in the data directory)
        let other = try OSUser.ensure("pgcheck")
        let tcpAdmin = "host=127.0.0.1 port=\(start.port) user=postgres dbname=postgres sslmode=disable"
        let remote = try CLIRun.run(["server", "--admin", tcpAdmin, "--client-cert", fixtures + "/main/alice.crt", "--user", "alice",
                                     "--database", "postgres", "--format", "json"], user: other.name)
        XCTAssertEqual(remote.status, 0, remote.stdout + remote.stderr)
        let checks = remote.json?["checks"] as? [[String: Any]] ?? []
        XCTAssertTrue(checks.contains { ($0["summary"] as? String ?? "").contains("read through --admin") }, remote.stdout)
        XCTAssertTrue(checks.contains { $0["id"] as? String == "server-certificate" && $0["status"] as? String == "pass" }, remote.stdout)
        XCTAssertEqual((remote.json?["login"] as? [String: Any])?["succeeds"] as? Bool, true, remote.stdout)
    }

    /// Debian's layout: postgresql.conf, pg_hba.conf and pg_ident.conf in a configuration directory,
    /// `data_directory` pointing at the data. The check (given the configuration directory, or
    /// `--config`) finds the data directory, PG_VERSION and the authentication files where the real
    /// server does (`postgres -D CONFIGDIR -C …`).
    func testConfigurationDirectoryApartFromTheData() throws {
        let data = try lab.dataDirectory("layout-data")
        let config = lab.root + "/layout-etc"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        for file in ["postgresql.conf", "pg_hba.conf", "pg_ident.conf"] {
            try FileManager.default.moveItem(atPath: data + "/" + file, toPath: config + "/" + file)
        }
        try lab.append(["data_directory = '\(data)'", "ident_file = '\(config)/ident/../map.conf'"], to: config + "/postgresql.conf")
        _ = try ProcessRunner.run(["/bin/chown", "-R", "postgres:", config], environment: [:], timeout: 30)

        for arguments in [[config], ["--config", config + "/postgresql.conf"]] {
            let run = try check(arguments)
            let server = run.json?["server"] as? [String: Any]
            for (field, name) in [("data_directory", "data_directory"), ("hba_file", "hba_file"), ("ident_file", "ident_file")] {
                let real = try lab.show(config, name)
                XCTAssertEqual(real.status, 0, real.stderr)
                XCTAssertEqual(server?[field] as? String, real.stdout.trimmingCharacters(in: .newlines), "\(arguments): \(field)")
            }
            XCTAssertEqual(server?["version_source"] as? String, "PG_VERSION")
        }
    }
}
