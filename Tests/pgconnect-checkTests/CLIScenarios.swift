import Foundation
import PGConnect
import PGTestSupport

/// One command line of the suite's `pgconnect-check` scenarios, with the environment it runs in.
/// `arguments` never hold `--format`: each test adds the format it reads.
struct CLIInvocation: Sendable {
    var arguments: [String]
    var environment: [String: String] = [:]
}

/// A scenario of the suite: a login that `pgconnect-check` is run on, built for one OS user.
///
/// `make` builds the command line from a ``ScenarioContext``, so the same scenario runs as root
/// on the original fixtures and as another OS user on that user's own copies (see
/// LibpqVerdictTests). Files a scenario needs of its own (a bad key mode, a FIFO, a service
/// file…) are made through the context, with the same properties for every user.
struct CLIScenario: Sendable {
    /// Unique, short: what is wrong (or right) with the login.
    let name: String
    /// The existing test(s) this scenario comes from.
    let source: String
    /// Server settings (`ALTER SYSTEM`) in force while it runs, given the server-side fixtures directory.
    var settings: @Sendable (_ serverFixtures: String) -> [String: String] = { _ in [:] }
    /// Why libpq's verdict cannot be compared with pgconnect-check's, when it cannot.
    var notComparable: String? = nil
    let make: @Sendable (ScenarioContext) throws -> CLIInvocation
}

/// The ports of the fake servers some scenarios connect to; they must outlive the runs.
struct FakeServerPorts: Sendable {
    /// Accepts and never answers (``SilentListener``).
    var silent: Int
    /// Answers the SSLRequest with `S`, then sends garbage.
    var garbageAfterTLSYes: Int
    /// Answers `S`, reads the ClientHello, then closes.
    var closeMidHandshake: Int
}

/// Where one scenario's run finds its files, for one OS user (the runner).
///
/// `fixtures`, `hba` and `ident` are files the runner can read: for root the originals, for
/// another user its own copies. `directory` is the scenario's own, empty when `make` starts.
/// Not thread-safe: one scenario's `make` uses it, on one thread.
final class ScenarioContext {
    enum Owner { case runner, root }

    /// nil when the runner is the test process's own user.
    let runner: OSUser?
    let port: Int
    let fixtures: String
    let hba: String
    let ident: String
    /// A superuser conninfo over the server's Unix socket (for `--admin`).
    let admin: String
    let directory: URL
    let fakes: FakeServerPorts

    init(runner: OSUser?, port: Int, fixtures: String, hba: String, ident: String, admin: String, directory: URL,
         fakes: FakeServerPorts) throws {
        self.runner = runner
        self.port = port
        self.fixtures = fixtures
        self.hba = hba
        self.ident = ident
        self.admin = admin
        self.directory = directory
        self.fakes = fakes
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        try give(directory.path, to: .runner)
    }

    /// A fixture path (relative to the fixtures directory), or `path` itself when absolute.
    func fixture(_ path: String) -> String { path.hasPrefix("/") ? path : "\(fixtures)/\(path)" }

    /// A certificate login to the test server (file names relative to the fixtures directory;
    /// nil leaves the keyword unset, so libpq's default applies).
    func conninfo(user: String = "alice", dbname: String = "postgres", cert: String? = "main/alice.crt",
                  key: String? = "main/alice.key", root: String? = "main/root.crt", sslmode: String = "verify-full",
                  host: String = "127.0.0.1", resolve: Bool = false, port: Int? = nil, password: String? = nil,
                  extra: [String: String] = [:]) -> String {
        var options = ConnectionOptions()
        options.host = [host]
        // A name is looked up only when `resolve`; otherwise hostaddr=127.0.0.1 goes with it.
        if host != "127.0.0.1", !resolve { options.hostaddr = ["127.0.0.1"] }
        options.port = [port ?? self.port]
        options.dbname = dbname
        options.user = user
        options["sslmode"] = sslmode
        options.sslrootcert = root.map(fixture)
        options.sslcert = cert.map(fixture)
        options.sslkey = key.map(fixture)
        options.password = password
        for (keyword, value) in extra { options[keyword] = value }
        return (try? options.conninfoString()) ?? ""
    }

    /// A copy of a fixture in the scenario's directory, with `mode`, owned by `owner`.
    func copy(_ fixture: String, to name: String, mode: Int, owner: Owner = .runner) throws -> String {
        let destination = directory.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: self.fixture(fixture), toPath: destination)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: destination)
        try give(destination, to: owner)
        return destination
    }

    /// A file in the scenario's directory holding `text`.
    func write(_ text: String, to name: String, mode: Int = 0o644, owner: Owner = .runner) throws -> String {
        let destination = directory.appendingPathComponent(name).path
        try text.write(toFile: destination, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: destination)
        try give(destination, to: owner)
        return destination
    }

    /// A file of `size` zero bytes.
    func zeros(_ size: Int, to name: String) throws -> String {
        let destination = directory.appendingPathComponent(name).path
        guard FileManager.default.createFile(atPath: destination, contents: Data(count: size)) else {
            throw CocoaError(.fileWriteUnknown)
        }
        try give(destination, to: .runner)
        return destination
    }

    /// A FIFO (nobody writes to it: opening it for reading blocks).
    func fifo(_ name: String) throws -> String {
        let destination = directory.appendingPathComponent(name).path
        guard mkfifo(destination, 0o600) == 0 else { throw POSIXError(.EEXIST) }
        try give(destination, to: .runner)
        return destination
    }

    /// A directory to use as `HOME`, holding `.postgresql/` with the given fixtures as libpq's
    /// default files (root.crt, postgresql.crt, postgresql.key with `keyMode`) and `files`
    /// (path relative to the home → contents, mode 0600), all the runner's.
    func home(rootCertificate: String?, certificate: String?, key: String?, keyMode: Int = 0o600,
              files: [String: String] = [:]) throws -> String {
        let home = directory.appendingPathComponent("home")
        let dotPostgresql = home.appendingPathComponent(".postgresql")
        try FileManager.default.createDirectory(at: dotPostgresql, withIntermediateDirectories: true)
        for (fixture, name, mode) in [(rootCertificate, "root.crt", 0o644), (certificate, "postgresql.crt", 0o644),
                                      (key, "postgresql.key", keyMode)] {
            guard let fixture else { continue }
            let destination = dotPostgresql.appendingPathComponent(name).path
            try FileManager.default.copyItem(atPath: self.fixture(fixture), toPath: destination)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: destination)
        }
        for (name, text) in files {
            let destination = home.appendingPathComponent(name).path
            try text.write(toFile: destination, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: destination)
        }
        try give(home.path, to: .runner)
        return home.path
    }

    /// Runs `openssl` (to make files in the scenario's directory), then gives what it made to the runner.
    func openssl(_ arguments: [String]) throws {
        try CertificateFactory.openssl(arguments)
        try give(directory.path, to: .runner)
    }

    private func give(_ path: String, to owner: Owner) throws {
        guard owner == .runner, let runner else { return }
        try runner.own(path)
    }
}

extension CLIScenario {
    /// The scenario named `name`; a test that names one that is not there fails at once.
    static func named(_ name: String) -> CLIScenario {
        guard let scenario = all.first(where: { $0.name == name }) else { fatalError("no CLI scenario named \(name)") }
        return scenario
    }

    /// Every `pgconnect-check` check scenario of the suite: the check runs of
    /// DiagnosisMatrixTests, AuthenticationMatrixTests, CheckCommandTests (with ServiceFileTests),
    /// SimulationTests, HostileInputTests, TargetsTests, TextReportTests, ExplainCommandTests and
    /// scripts/check-all.sh, each login once (a run that differs only in output format is
    /// the same login). Usage errors (exit 64), `--version`, `inspect` and `explain` attempt no
    /// login and are not here.
    static let all: [CLIScenario] = diagnosisMatrix + authentication + checkCommand + simulation + hostile + home

    // MARK: DiagnosisMatrixTests (and check-all.sh, TextReportTests)

    static let diagnosisMatrix: [CLIScenario] = [
        CLIScenario(name: "working login", source: "CheckCommandTests, TextReportTests, TargetsTests, DiagnosisMatrixTests, check-all.sh") {
            CLIInvocation(arguments: [$0.conninfo()])
        },
        CLIScenario(name: "cert file missing", source: "DiagnosisMatrixTests.testNamedCertificateThatDoesNotExistIsReportedNotIgnored") {
            CLIInvocation(arguments: [$0.conninfo(cert: "main/nope/alice.crt")])
        },
        CLIScenario(name: "key file missing", source: "DiagnosisMatrixTests.testMissingKeyFile") {
            CLIInvocation(arguments: [$0.conninfo(key: "main/missing.key")])
        },
        CLIScenario(name: "root cert missing, verify-full", source: "DiagnosisMatrixTests.testMissingRootCertificateUnderVerifyFull") {
            CLIInvocation(arguments: [$0.conninfo(root: "main/missing-root.crt")])
        },
        CLIScenario(name: "root cert missing, verify-ca", source: "DiagnosisMatrixTests.testMissingRootCertificateUnderVerifyFull") {
            CLIInvocation(arguments: [$0.conninfo(root: "main/missing-root.crt", sslmode: "verify-ca")])
        },
        CLIScenario(name: "cert file not PEM", source: "DiagnosisMatrixTests.testCertificateFileThatIsNotPEM") {
            CLIInvocation(arguments: [$0.conninfo(cert: try $0.write("this is not a certificate\n", to: "garbage.crt"))])
        },
        CLIScenario(name: "key mode 0644, the runner's", source: "DiagnosisMatrixTests.testKeyPermissionsAsRootFollowLibpqsRootRule") {
            CLIInvocation(arguments: [$0.conninfo(key: try $0.copy("main/alice.key", to: "open.key", mode: 0o644))])
        },
        CLIScenario(name: "key mode 0640, the runner's",
                    source: "DiagnosisMatrixTests.testKeyPermissionsAsRootFollowLibpqsRootRule, .testKeyPermissionsAndReadabilityAsANonRootUser") {
            CLIInvocation(arguments: [$0.conninfo(key: try $0.copy("main/alice.key", to: "group.key", mode: 0o640))])
        },
        CLIScenario(name: "key mode 0600, root's", source: "DiagnosisMatrixTests.testKeyPermissionsAndReadabilityAsANonRootUser") {
            CLIInvocation(arguments: [$0.conninfo(key: try $0.copy("main/alice.key", to: "root-only.key", mode: 0o600, owner: .root))])
        },
        CLIScenario(name: "key mode 0640, root's", source: "DiagnosisMatrixTests.testKeyPermissionsAsRootFollowLibpqsRootRule (root-owned 0640)") {
            CLIInvocation(arguments: [$0.conninfo(key: try $0.copy("main/alice.key", to: "root-group.key", mode: 0o640, owner: .root))])
        },
        CLIScenario(name: "encrypted key, no passphrase", source: "DiagnosisMatrixTests.testEncryptedKeyWithoutWrongAndRightPassphrase, check-all.sh") {
            CLIInvocation(arguments: [$0.conninfo(key: "main/alice.enc.key")])
        },
        CLIScenario(name: "encrypted key, wrong passphrase file", source: "DiagnosisMatrixTests.testEncryptedKeyWithoutWrongAndRightPassphrase") {
            CLIInvocation(arguments: [$0.conninfo(key: "main/alice.enc.key"), "--sslpassword-file",
                                      try $0.write("not-the-passphrase\n", to: "wrong", mode: 0o600)])
        },
        CLIScenario(name: "encrypted key, right passphrase file", source: "DiagnosisMatrixTests.testEncryptedKeyWithoutWrongAndRightPassphrase") {
            CLIInvocation(arguments: [$0.conninfo(key: "main/alice.enc.key"), "--sslpassword-file", try $0.write("secret\n", to: "right", mode: 0o600)])
        },
        CLIScenario(name: "key of another certificate", source: "DiagnosisMatrixTests.testKeyThatDoesNotMatchTheCertificate") {
            CLIInvocation(arguments: [$0.conninfo(key: "main/bob.key")])
        },
        CLIScenario(name: "client cert expired", source: "DiagnosisMatrixTests.testExpiredClientCertificate") {
            CLIInvocation(arguments: [$0.conninfo(user: "old", cert: "main/old.crt", key: "main/old.key")])
        },
        CLIScenario(name: "client cert not yet valid", source: "DiagnosisMatrixTests.testClientCertificateNotYetValid") {
            CLIInvocation(arguments: [$0.conninfo(user: "future", cert: "main/future.crt", key: "main/future.key")])
        },
        CLIScenario(name: "client cert without clientAuth", source: "DiagnosisMatrixTests.testClientCertificateWithoutClientAuthUsage") {
            CLIInvocation(arguments: [$0.conninfo(user: "wrongusage", cert: "main/wrongusage.crt", key: "main/wrongusage.key")])
        },
        CLIScenario(name: "leaf without its intermediate", source: "DiagnosisMatrixTests.testLeafOnlyCertificateFileUnderAnIntermediateCA, TextReportTests, check-all.sh") {
            CLIInvocation(arguments: [$0.conninfo(user: "ivan", cert: "inter/ivan.leaf.crt", key: "inter/ivan.key")])
        },
        CLIScenario(name: "leaf with its intermediate", source: "DiagnosisMatrixTests.testLeafOnlyCertificateFileUnderAnIntermediateCA") {
            CLIInvocation(arguments: [$0.conninfo(user: "ivan", cert: "inter/ivan.crt", key: "inter/ivan.key")])
        },
        CLIScenario(name: "client cert from an untrusted CA",
                    source: "DiagnosisMatrixTests.testClientCertificateFromACAtheServerDoesNotTrust, .testTextReportShowsLayersInOrder, TextReportTests, check-all.sh") {
            CLIInvocation(arguments: [$0.conninfo(user: "stranger", cert: "other/stranger.crt", key: "other/stranger.key")])
        },
        CLIScenario(name: "revoked client cert (server CRL)", source: "DiagnosisMatrixTests.testRevokedClientCertificateWithServerCRL",
                    settings: { ["ssl_crl_file": "\($0)/crl-bundle.pem"] }) {
            CLIInvocation(arguments: [$0.conninfo(user: "carol", cert: "main/carol.crt", key: "main/carol.key")])
        },
        CLIScenario(name: "unrevoked client cert (server CRL)", source: "DiagnosisMatrixTests.testRevokedClientCertificateWithServerCRL",
                    settings: { ["ssl_crl_file": "\($0)/crl-bundle.pem"] }) {
            CLIInvocation(arguments: [$0.conninfo()])
        },
        CLIScenario(name: "intermediate's client cert (server CRL)", source: "DiagnosisMatrixTests.testRevokedClientCertificateWithServerCRL",
                    settings: { ["ssl_crl_file": "\($0)/crl-bundle.pem"] }) {
            CLIInvocation(arguments: [$0.conninfo(user: "ivan", cert: "inter/ivan.crt", key: "inter/ivan.key")])
        },
        CLIScenario(name: "server CRL missing the intermediate's", source: "DiagnosisMatrixTests.testServerCRLMissingForTheIntermediate",
                    settings: { ["ssl_crl_file": "\($0)/crl-root-only.pem"] }) {
            CLIInvocation(arguments: [$0.conninfo(user: "ivan", cert: "inter/ivan.crt", key: "inter/ivan.key")])
        },
        CLIScenario(name: "root's client cert (server CRL without the intermediate's)", source: "DiagnosisMatrixTests.testServerCRLMissingForTheIntermediate",
                    settings: { ["ssl_crl_file": "\($0)/crl-root-only.pem"] }) {
            CLIInvocation(arguments: [$0.conninfo()])
        },
    ] + ["verify-full", "verify-ca", "require"].map { mode in
        CLIScenario(name: "wrong root cert, \(mode)", source: "DiagnosisMatrixTests.testWrongRootCertificateUnderEveryVerifyingMode, check-all.sh") {
            CLIInvocation(arguments: [$0.conninfo(root: "other/root.crt", sslmode: mode)])
        }
    } + [
        CLIScenario(name: "server cert expired", source: "DiagnosisMatrixTests.testExpiredServerCertificate",
                    settings: { ["ssl_cert_file": "\($0)/main/server-expired.crt", "ssl_key_file": "\($0)/main/server-expired.server-owned.key"] }) {
            CLIInvocation(arguments: [$0.conninfo()])
        },
        CLIScenario(name: "server cert revoked by the client's CRL", source: "DiagnosisMatrixTests.testServerCertificateRevokedByTheClientsCRL") { context in
            // A CRL from the server's CA that revokes the server's own certificate, made with openssl ca.
            let directory = context.directory.appendingPathComponent("ca").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = try context.write("", to: "ca/index.txt")
            _ = try context.write("01\n", to: "ca/crlnumber")
            _ = try context.write("""
                [ ca ]
                default_ca = local
                [ local ]
                database = \(directory)/index.txt
                crlnumber = \(directory)/crlnumber
                default_md = sha256
                default_crl_days = 30
                """, to: "ca/ca.cnf")
            let ca = ["-config", "\(directory)/ca.cnf", "-keyfile", context.fixture("main/root.key"), "-cert", context.fixture("main/root.crt"), "-batch"]
            try context.openssl(["ca"] + ca + ["-revoke", context.fixture("main/server.crt")])
            try context.openssl(["ca"] + ca + ["-gencrl", "-out", "\(directory)/crl.pem"])
            return CLIInvocation(arguments: [context.conninfo(extra: ["sslcrl": "\(directory)/crl.pem"])])
        },
    ] + serverOther + [
        CLIScenario(name: "tutorial setup by name", source: "DiagnosisMatrixTests.testTutorialSetupWorksButIsFlagged", settings: tutorialSettings) {
            CLIInvocation(arguments: [$0.conninfo(cert: "tutorial/alice.crt", key: "tutorial/alice.key", root: "tutorial/root.crt", host: "localhost")])
        },
        CLIScenario(name: "tutorial setup by IP", source: "DiagnosisMatrixTests.testTutorialSetupWorksButIsFlagged", settings: tutorialSettings) {
            CLIInvocation(arguments: [$0.conninfo(cert: "tutorial/alice.crt", key: "tutorial/alice.key", root: "tutorial/root.crt")])
        },
        CLIScenario(name: "no common TLS version", source: "DiagnosisMatrixTests.testNoCommonTLSVersion",
                    settings: { _ in ["ssl_min_protocol_version": "TLSv1.3"] }) {
            CLIInvocation(arguments: [$0.conninfo(extra: ["ssl_max_protocol_version": "TLSv1.2"])])
        },
        CLIScenario(name: "server with ssl off", source: "DiagnosisMatrixTests.testServerWithSSLOff", settings: { _ in ["ssl": "off"] }) {
            CLIInvocation(arguments: [$0.conninfo(sslmode: "require")])
        },
        CLIScenario(name: "no client cert where the server requires one", source: "DiagnosisMatrixTests.testNoClientCertificateWhenTheServerRequiresOne") {
            CLIInvocation(arguments: [$0.conninfo(cert: nil, key: nil)])
        },
        CLIScenario(name: "prefer, certificate of another user", source: "DiagnosisMatrixTests.testPreferFallbackIsExplainedByTheTLSAttempt") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", sslmode: "prefer")])
        },
        CLIScenario(name: "require without the root cert file", source: "DiagnosisMatrixTests.testRequireWithoutRootCertificateWarnsThatTheServerIsUnverified") {
            CLIInvocation(arguments: [$0.conninfo(root: "main/no-such-root.crt", sslmode: "require")])
        },
        CLIScenario(name: "require with the root cert file", source: "DiagnosisMatrixTests.testRequireWithoutRootCertificateWarnsThatTheServerIsUnverified") {
            CLIInvocation(arguments: [$0.conninfo(sslmode: "require")])
        },
        CLIScenario(name: "expiry warning window 1000 days", source: "DiagnosisMatrixTests.testCertificatesExpiringWithinTheWarningWindow") {
            CLIInvocation(arguments: [$0.conninfo(), "--expiry-warning", "1000"])
        },
    ]

    static let serverOtherSettings: @Sendable (String) -> [String: String] = {
        ["ssl_cert_file": "\($0)/main/server-other.crt", "ssl_key_file": "\($0)/main/server-other.server-owned.key"]
    }

    static let tutorialSettings: @Sendable (String) -> [String: String] = {
        ["ssl_cert_file": "\($0)/tutorial/server.crt", "ssl_key_file": "\($0)/tutorial/server.server-owned.key", "ssl_ca_file": "\($0)/tutorial/server.crt"]
    }

    static let serverOther: [CLIScenario] = [
        CLIScenario(name: "server name mismatch by IP", source: "DiagnosisMatrixTests.testHostNameMismatchByIPAndByName", settings: serverOtherSettings) {
            CLIInvocation(arguments: [$0.conninfo()])
        },
        CLIScenario(name: "server name mismatch by name", source: "DiagnosisMatrixTests.testHostNameMismatchByIPAndByName", settings: serverOtherSettings) {
            CLIInvocation(arguments: [$0.conninfo(host: "localhost")])
        },
        CLIScenario(name: "other server name, verify-ca", source: "DiagnosisMatrixTests.testHostNameMismatchByIPAndByName", settings: serverOtherSettings) {
            CLIInvocation(arguments: [$0.conninfo(sslmode: "verify-ca")])
        },
    ]

    // MARK: AuthenticationMatrixTests

    static let authentication: [CLIScenario] = [
        CLIScenario(name: "sslmode=disable, hostssl-only rules", source: "AuthenticationMatrixTests.testNoMatchingLineWithoutEncryption") {
            CLIInvocation(arguments: [$0.conninfo(sslmode: "disable")])
        },
        CLIScenario(name: "reject line", source: "AuthenticationMatrixTests.testRejectLine") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "rejectdb")])
        },
        CLIScenario(name: "password line without a password", source: "AuthenticationMatrixTests.testPasswordLineWithoutPassword") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "pwdb")])
        },
        CLIScenario(name: "password line, wrong password", source: "AuthenticationMatrixTests.testWrongPassword") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "pwdb", password: "wrong-test-secret")])
        },
        CLIScenario(name: "password line, right password", source: "AuthenticationMatrixTests.testWrongPassword") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "pwdb", password: AuthenticationMatrixTests.alicePassword)])
        },
        CLIScenario(name: "password line, right PGPASSWORD, certificate of another user",
                    source: "AuthenticationMatrixTests.testRightPasswordWithCertificateOfAnotherUserUnderVerifyFull") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "pwdb")], environment: ["PGPASSWORD": AuthenticationMatrixTests.bobPassword])
        },
        CLIScenario(name: "trust clientcert=verify-full, certificate of another user", source: "AuthenticationMatrixTests.testTrustLineWithVerifyFullAndCertificateOfAnotherUser") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "trustdb")])
        },
        CLIScenario(name: "trust clientcert=verify-full, own certificate", source: "AuthenticationMatrixTests.testTrustLineWithVerifyFullAndCertificateOfAnotherUser") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "trustdb")])
        },
        CLIScenario(name: "cert without map, CN other than user",
                    source: "AuthenticationMatrixTests.testCertWithoutMapAndCNOtherThanUser, CheckCommandTests.testRefusedLoginExitsOneWithSQLState, check-all.sh") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob")])
        },
        CLIScenario(name: "cert map=certmap, mapped user", source: "AuthenticationMatrixTests.testExactMapAndMapWithoutAMatchingLine") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "mapdb")])
        },
        CLIScenario(name: "cert map=certmap, unmapped user", source: "AuthenticationMatrixTests.testExactMapAndMapWithoutAMatchingLine") {
            CLIInvocation(arguments: [$0.conninfo(user: "alice", dbname: "mapdb")])
        },
        CLIScenario(name: "clientname=DN map, mapped user", source: "AuthenticationMatrixTests.testDNMapWithClientnameDN") {
            CLIInvocation(arguments: [$0.conninfo(user: "alice", dbname: "dndb")])
        },
        CLIScenario(name: "clientname=DN map, unmapped user", source: "AuthenticationMatrixTests.testDNMapWithClientnameDN") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "dndb")])
        },
        CLIScenario(name: "missing role", source: "AuthenticationMatrixTests.testMissingRole") {
            CLIInvocation(arguments: [$0.conninfo(user: "ghost")])
        },
        CLIScenario(name: "role that cannot log in", source: "AuthenticationMatrixTests.testRoleThatCannotLogIn") {
            CLIInvocation(arguments: [$0.conninfo(user: "locked")])
        },
        CLIScenario(name: "missing database", source: "AuthenticationMatrixTests.testMissingDatabase") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "nosuchdb")])
        },
        CLIScenario(name: "CONNECT revoked", source: "AuthenticationMatrixTests.testRevokedConnectPrivilege") {
            CLIInvocation(arguments: [$0.conninfo(dbname: "closeddb")])
        },
        CLIScenario(name: "server without ssl_ca_file", source: "AuthenticationMatrixTests.testServerWithoutCAFileNeverAsksForTheCertificate",
                    settings: { _ in ["ssl_ca_file": ""] }) {
            CLIInvocation(arguments: [$0.conninfo()])
        },
    ]

    // MARK: CheckCommandTests, ServiceFileTests, TargetsTests, ExplainCommandTests

    static let checkCommand: [CLIScenario] = [
        CLIScenario(name: "--sslrootcert of another CA", source: "CheckCommandTests.testWrongRootCertificateExitsTwo") {
            CLIInvocation(arguments: [$0.conninfo(), "--sslrootcert", $0.fixture("other/root.crt")])
        },
        CLIScenario(name: "-U bob with alice's certificate", source: "CheckCommandTests.testRefusedLoginExitsOneWithSQLState, TargetsTests, ExplainCommandTests") {
            CLIInvocation(arguments: [$0.conninfo(), "-U", "bob"])
        },
        CLIScenario(name: "--port 1 (refused)", source: "CheckCommandTests.testRefusedPortExitsTwo, TargetsTests") {
            CLIInvocation(arguments: [$0.conninfo(), "--port", "1"])
        },
        CLIScenario(name: "silent server, --connect-timeout 1", source: "CheckCommandTests.testSilentServerTimesOutAndExitsTwo, HostileInputTests") {
            CLIInvocation(arguments: [$0.conninfo(), "--port", String($0.fakes.silent), "--connect-timeout", "1"])
        },
        CLIScenario(name: "misspelt keyword sslcrt", source: "CheckCommandTests.testBadConninfoExitsThree") { _ in
            CLIInvocation(arguments: ["sslcrt=/tmp/x"])
        },
        CLIScenario(name: "--sslmode verify_full", source: "CheckCommandTests.testInvalidSSLModeExitsThree") { _ in
            CLIInvocation(arguments: ["--sslmode", "verify_full", "host=127.0.0.1"])
        },
        CLIScenario(name: "--sslkey encrypted, no passphrase", source: "CheckCommandTests.testEncryptedKeyWithoutPasswordExitsThreeWithoutPrompting") {
            CLIInvocation(arguments: [$0.conninfo(), "--sslkey", $0.fixture("main/alice.enc.key")])
        },
        CLIScenario(name: "password in conninfo, --sslkey encrypted, --sslpassword-file", source: "CheckCommandTests.testPasswordsNeverAppearInOutput") {
            CLIInvocation(arguments: [$0.conninfo() + " password=hunter2-topsecret", "--sslkey", $0.fixture("main/alice.enc.key"),
                                      "--sslpassword-file", try $0.write("secret\n", to: "passphrase", mode: 0o600)])
        },
        CLIScenario(name: "wrong sslpassword in conninfo, --sslkey encrypted", source: "CheckCommandTests.testPasswordsNeverAppearInOutput") {
            CLIInvocation(arguments: [$0.conninfo() + " password=hunter2-topsecret sslpassword=wrong-topsecret", "--sslkey", $0.fixture("main/alice.enc.key")])
        },
        CLIScenario(name: "--port 1, sslmode=require, nothing else", source: "CheckCommandTests.testJSONGoesAloneOnStdout") { _ in
            CLIInvocation(arguments: ["--port", "1", "host=127.0.0.1 sslmode=require"])
        },
        CLIScenario(name: "service file entry", source: "ServiceFileTests.testServiceFileEntriesAreUsedAsPsqlUsesThem") {
            CLIInvocation(arguments: ["service=certsvc user=alice"], environment: ["PGSERVICEFILE": try serviceFile($0)])
        },
        CLIScenario(name: "service from PGSERVICE, another user", source: "ServiceFileTests.testServiceFileEntriesAreUsedAsPsqlUsesThem") {
            CLIInvocation(arguments: ["user=bob"], environment: ["PGSERVICEFILE": try serviceFile($0), "PGSERVICE": "certsvc"])
        },
    ]

    static func serviceFile(_ context: ScenarioContext) throws -> String {
        try context.write("""
            [certsvc]
            host=127.0.0.1
            port=\(context.port)
            dbname=postgres
            sslmode=verify-full
            sslrootcert=\(context.fixture("main/root.crt"))
            sslcert=\(context.fixture("main/alice.crt"))
            sslkey=\(context.fixture("main/alice.key"))

            """, to: "pg_service.conf")
    }

    // MARK: SimulationTests

    /// The map scenarios once with `--hba`/`--ident` (copies of the server's files) and once with `--admin`.
    static func simulationMaps(_ source: String, _ options: @escaping @Sendable (ScenarioContext) -> [String]) -> [CLIScenario] {
        [
            CLIScenario(name: "simulation (\(source)): DN map, unmapped user", source: "SimulationTests.testFilesMakeMapFailuresExactWithLineAndMap") {
                CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "dndb")] + options($0))
            },
            CLIScenario(name: "simulation (\(source)): certmap, unmapped user", source: "SimulationTests.testFilesMakeMapFailuresExactWithLineAndMap") {
                CLIInvocation(arguments: [$0.conninfo(user: "alice", dbname: "mapdb")] + options($0))
            },
            CLIScenario(name: "simulation (\(source)): no map, CN other than user", source: "SimulationTests.testFilesMakeMapFailuresExactWithLineAndMap") {
                CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "postgres")] + options($0))
            },
        ]
    }

    static let simulation: [CLIScenario] = simulationMaps("files") { ["--hba", $0.hba, "--ident", $0.ident] }
        + simulationMaps("--admin") { ["--admin", $0.admin] } + [
        CLIScenario(name: "simulation (files): right PGPASSWORD, certificate of another user",
                    source: "SimulationTests.testRightPasswordWithAnotherUsersCertificateIsNamedExactly") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "pwdb"), "--hba", $0.hba, "--ident", $0.ident],
                          environment: ["PGPASSWORD": AuthenticationMatrixTests.bobPassword])
        },
        CLIScenario(name: "simulation (files): sslmode=disable", source: "SimulationTests.testPlaintextAgainstHostsslOnlyRules") {
            CLIInvocation(arguments: [$0.conninfo(sslmode: "disable"), "--hba", $0.hba])
        },
        CLIScenario(name: "--no-connect: DN map, unmapped user", source: "SimulationTests.testNoConnectPredictsFromTheFilesAlone") {
            CLIInvocation(arguments: [$0.conninfo(user: "bob", dbname: "dndb"), "--hba", $0.hba, "--ident", $0.ident, "--no-connect"])
        },
        CLIScenario(name: "--no-connect: DN map, mapped user", source: "SimulationTests.testNoConnectPredictsFromTheFilesAlone") {
            CLIInvocation(arguments: [$0.conninfo(user: "alice", dbname: "dndb"), "--hba", $0.hba, "--ident", $0.ident, "--no-connect"])
        },
        CLIScenario(name: "--no-connect --client-addr 127.0.0.9", source: "SimulationTests.testNoConnectPredictsFromTheFilesAlone",
                    notComparable: "it predicts for client address 127.0.0.9; psql can only connect from 127.0.0.1") {
            CLIInvocation(arguments: [$0.conninfo(user: "alice", dbname: "dndb"), "--hba", $0.hba, "--no-connect", "--client-addr", "127.0.0.9"])
        },
        CLIScenario(name: "simulation with an edited pg_hba.conf", source: "SimulationTests.testSimulationThatDisagreesWithTheServerSaysSo") { context in
            let edited = try String(contentsOfFile: context.hba, encoding: .utf8).replacingOccurrences(of: "cert map=certmap", with: "trust")
            return CLIInvocation(arguments: [context.conninfo(user: "alice", dbname: "mapdb"), "--hba", try context.write(edited, to: "pg_hba.conf"),
                                             "--ident", context.ident])
        },
    ]

    // MARK: HostileInputTests

    static let hostile: [CLIScenario] = [
        CLIScenario(name: "a directory as sslcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(cert: $0.directory.path)])
        },
        CLIScenario(name: "a FIFO as sslcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(cert: try $0.fifo("fifo"))])
        },
        CLIScenario(name: "/dev/zero as sslcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(cert: "/dev/zero")])
        },
        CLIScenario(name: "an empty sslcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(cert: try $0.write("", to: "empty.crt"))])
        },
        CLIScenario(name: "a truncated PEM sslcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") { context in
            let pem = try String(contentsOfFile: context.fixture("main/alice.crt"), encoding: .utf8)
            return CLIInvocation(arguments: ["--connect-timeout", "5",
                                             context.conninfo(cert: try context.write(String(pem.prefix(pem.count / 2)), to: "truncated.crt"))])
        },
        CLIScenario(name: "a 50 MB sslcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(cert: try $0.zeros(50 << 20, to: "big.crt"))])
        },
        CLIScenario(name: "a FIFO as sslkey", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(key: try $0.fifo("fifo"))])
        },
        CLIScenario(name: "a directory as sslkey", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(key: $0.directory.path)])
        },
        CLIScenario(name: "a FIFO as sslrootcert", source: "HostileInputTests.testCertificateAndKeyPathsThatAreNotFiles") {
            CLIInvocation(arguments: ["--connect-timeout", "5", $0.conninfo(root: try $0.fifo("fifo"))])
        },
        CLIScenario(name: "a DER sslcert", source: "HostileInputTests.testDERWherePEMIsExpectedAndAKeyOfAnotherType") { context in
            let der = context.directory.appendingPathComponent("alice.der").path
            try context.openssl(["x509", "-in", context.fixture("main/alice.crt"), "-outform", "DER", "-out", der])
            return CLIInvocation(arguments: ["--connect-timeout", "5", context.conninfo(cert: der)])
        },
        CLIScenario(name: "an Ed25519 key for an EC certificate", source: "HostileInputTests.testDERWherePEMIsExpectedAndAKeyOfAnotherType") { context in
            let key = context.directory.appendingPathComponent("ed.key").path
            try context.openssl(["genpkey", "-algorithm", "ED25519", "-out", key])
            chmod(key, 0o600)
            return CLIInvocation(arguments: ["--connect-timeout", "5", context.conninfo(key: key)])
        },
        CLIScenario(name: "unterminated quote in conninfo", source: "HostileInputTests.testHostileConninfoAndExplainInput") { _ in
            CLIInvocation(arguments: ["host='unterminated"])
        },
        CLIScenario(name: "bad percent-encoding in a URI", source: "HostileInputTests.testHostileConninfoAndExplainInput") { _ in
            CLIInvocation(arguments: ["postgresql://%zz@h/db"])
        },
        CLIScenario(name: "5000 unknown keywords", source: "HostileInputTests.testHostileConninfoAndExplainInput") { _ in
            CLIInvocation(arguments: [String(repeating: "a=", count: 5000)])
        },
        CLIScenario(name: "unresolvable host name", source: "HostileInputTests.testUnresolvableHostName") {
            CLIInvocation(arguments: [$0.conninfo(host: String(repeating: "a", count: 64) + ".test", resolve: true)])
        },
        CLIScenario(name: "garbage after the server's TLS yes", source: "HostileInputTests.testGarbageAfterTLSYesAndASilentServerThroughTheCLI") {
            CLIInvocation(arguments: [$0.conninfo(port: $0.fakes.garbageAfterTLSYes)])
        },
        CLIScenario(name: "server closes mid-handshake", source: "HostileInputTests.testGarbageAfterTLSYesAndASilentServerThroughTheCLI") {
            CLIInvocation(arguments: [$0.conninfo(port: $0.fakes.closeMidHandshake)])
        },
    ]

    // MARK: libpq's default files under HOME

    /// libpq's files found through `HOME` and `PG*` variables rather than named in the conninfo.
    /// The first one exposed the bug these verdicts were written for; the others probe the same
    /// lookups (they are not in the other tests).
    static let home: [CLIScenario] = [
        CLIScenario(name: "default files in $HOME/.postgresql, none in the passwd home",
                    source: "LibpqVerdictTests (libpq 15 reads $HOME before the passwd home)") { context in
            let home = try context.home(rootCertificate: "main/root.crt", certificate: "main/alice.crt", key: "main/alice.key")
            return CLIInvocation(arguments: ["host=127.0.0.1 port=\(context.port) dbname=postgres user=alice sslmode=verify-full"],
                                 environment: ["HOME": home])
        },
        CLIScenario(name: "default root.crt in $HOME/.postgresql, cert and key named", source: "LibpqVerdictTests") { context in
            let home = try context.home(rootCertificate: "main/root.crt", certificate: nil, key: nil)
            return CLIInvocation(arguments: [context.conninfo(root: nil)], environment: ["HOME": home])
        },
        CLIScenario(name: "default cert and key in $HOME/.postgresql, sslmode=require, no root.crt", source: "LibpqVerdictTests") { context in
            let home = try context.home(rootCertificate: nil, certificate: "main/alice.crt", key: "main/alice.key")
            return CLIInvocation(arguments: [context.conninfo(cert: nil, key: nil, root: nil, sslmode: "require")], environment: ["HOME": home])
        },
        CLIScenario(name: "default key in $HOME/.postgresql with mode 0644", source: "LibpqVerdictTests") { context in
            let home = try context.home(rootCertificate: "main/root.crt", certificate: "main/alice.crt", key: "main/alice.key", keyMode: 0o644)
            return CLIInvocation(arguments: ["host=127.0.0.1 port=\(context.port) dbname=postgres user=alice sslmode=verify-full"],
                                 environment: ["HOME": home])
        },
        CLIScenario(name: "files from PGSSLROOTCERT, PGSSLCERT, PGSSLKEY", source: "LibpqVerdictTests") { context in
            CLIInvocation(arguments: ["host=127.0.0.1 port=\(context.port) dbname=postgres user=alice sslmode=verify-full"],
                          environment: ["PGSSLROOTCERT": context.fixture("main/root.crt"), "PGSSLCERT": context.fixture("main/alice.crt"),
                                        "PGSSLKEY": context.fixture("main/alice.key")])
        },
        CLIScenario(name: "service from $HOME/.pg_service.conf", source: "LibpqVerdictTests") { context in
            let service = """
                [homesvc]
                host=127.0.0.1
                port=\(context.port)
                dbname=postgres
                sslmode=verify-full
                sslrootcert=\(context.fixture("main/root.crt"))
                sslcert=\(context.fixture("main/alice.crt"))
                sslkey=\(context.fixture("main/alice.key"))

                """
            let home = try context.home(rootCertificate: nil, certificate: nil, key: nil, files: [".pg_service.conf": service])
            return CLIInvocation(arguments: ["service=homesvc user=alice"], environment: ["HOME": home])
        },
        CLIScenario(name: "password from $HOME/.pgpass", source: "LibpqVerdictTests") { context in
            let home = try context.home(rootCertificate: nil, certificate: nil, key: nil,
                                        files: [".pgpass": "127.0.0.1:\(context.port):pwdb:alice:\(AuthenticationMatrixTests.alicePassword)\n"])
            return CLIInvocation(arguments: [context.conninfo(dbname: "pwdb")], environment: ["HOME": home])
        },
    ]
}

extension CLIScenario {
    /// This scenario's command line for the test process's own user: the original fixtures, the
    /// server's own pg_hba.conf/pg_ident.conf, its files in `directory` (removed by the caller).
    /// Without `fakes`, the fake servers' ports are 1 (nothing listens there).
    func invocation(server: TestServer, directory: URL,
                    fakes: FakeServerPorts = FakeServerPorts(silent: 1, garbageAfterTLSYes: 1, closeMidHandshake: 1)) throws -> CLIInvocation {
        let data = server.dataDirectory ?? ""
        let context = try ScenarioContext(runner: nil, port: server.port, fixtures: server.fixtures, hba: "\(data)/pg_hba.conf",
                                          ident: "\(data)/pg_ident.conf",
                                          admin: "host=\(server.socketDirectory) port=\(server.port) user=postgres dbname=postgres",
                                          directory: directory, fakes: fakes)
        return try make(context)
    }
}
