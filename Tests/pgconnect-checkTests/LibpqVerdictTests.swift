import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// pgconnect-check's verdict must be libpq's own: for every scenario of ``CLIScenario/all``,
/// run as root and as the non-root OS user `pgcheck` (whose `HOME` is not its passwd home),
/// psql (`-X -w -c 'select 1'`, same OS user, same environment, same conninfo) connects if and
/// only if pgconnect-check exits 0. Every mismatch is listed in one failure: scenario, user,
/// psql's result, pgconnect-check's exit status and first diagnosis line.
///
/// Each run has the non-root user's own copies of the files (fixtures, pg_hba.conf,
/// pg_ident.conf, the binary) and its own `HOME`; scenario files keep their properties (a bad
/// key mode stays bad, a root-owned key stays root's). Until pgconnect-check reads libpq's
/// default files from `$HOME` as libpq does, the `$HOME/.postgresql` scenarios fail here.
final class LibpqVerdictTests: XCTestCase {
    /// The non-root OS user; created when missing (scripts/setup.sh does the same).
    static let otherUser = "pgcheck"
    /// Seconds before a psql run is ended (a FIFO or /dev/zero as a file can block libpq forever).
    static let psqlTimeout = 10.0
    /// Seconds before a pgconnect-check run is ended (its own connect timeout is 30 s).
    static let checkTimeout = 40.0
    /// Runs at a time: each mostly waits on the server or a timeout.
    static let width = 8

    /// An OS user the scenarios run as, with its copies of the files it reads.
    struct Runner: Sendable {
        var label: String
        /// nil: the test process's own user, run directly.
        var user: OSUser?
        var fixtures: String
        var hba: String
        var ident: String
        var binary: String
        /// `HOME` when a scenario does not set it (nil: the test process's own).
        var home: String?
        var directory: URL
    }

    struct Job: Sendable {
        var scenario: String
        var runner: Runner
        var invocation: CLIInvocation
    }

    struct Outcome: Sendable {
        var job: Job
        var psql: ProcessOutcome
        var check: ProcessOutcome
    }

    var server: TestServer!
    var psql: String!
    var base: URL!

    override func setUp() async throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil,
              server.dataDirectory != nil else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh (PGCONNECT_TEST_ENV, PGCONNECT_TEST_FIXTURES)")
        }
        self.server = server
        guard let psql = Self.psqlPath(server) else {
            throw XCTSkip("psql is missing: neither $PGCONNECT_PG_BINDIR/psql, the server's bin directory nor /usr/bin/psql; libpq's verdict needs it")
        }
        self.psql = psql
        base = URL(fileURLWithPath: "/tmp").appendingPathComponent("pgconnect-verdict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: base.path)
    }

    override func tearDown() async throws {
        if let base { try? FileManager.default.removeItem(at: base) }
    }

    static func psqlPath(_ server: TestServer) -> String? {
        let candidates = [ProcessInfo.processInfo.environment["PGCONNECT_PG_BINDIR"], server.binDirectory].compactMap { $0 }.map { "\($0)/psql" }
            + ["/usr/bin/psql"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    // MARK: the verdicts

    func testEveryScenarioAgreesWithLibpqAsRootAndAsANonRootUser() async throws {
        let silent = try SilentListener()
        let garbage = try MisbehavingServer(.garbageAfterTLSYes)
        let midHandshake = try MisbehavingServer(.closeMidHandshake)
        let fakes = FakeServerPorts(silent: silent.port, garbageAfterTLSYes: garbage.port, closeMidHandshake: midHandshake.port)
        defer { withExtendedLifetime((silent, garbage, midHandshake)) {} }

        let runners = try makeRunners()
        if runners.count < 2 {
            print("LibpqVerdictTests: not root, so the scenarios run only as \(runners[0].label), not also as \(Self.otherUser)")
        }
        var jobs: [Job] = []
        var setupFailures: [String] = []
        var settingsOf: [String: [String: String]] = [:]
        var groupOf: [String: String] = [:]
        for (index, scenario) in CLIScenario.all.enumerated() {
            if let reason = scenario.notComparable {
                print("LibpqVerdictTests: not compared: \(scenario.name): \(reason)")
                continue
            }
            let settings = scenario.settings(server.fixtures)
            let key = settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            settingsOf[key] = settings
            groupOf[scenario.name] = key
            for runner in runners {
                do {
                    let context = try ScenarioContext(runner: runner.user, port: server.port, fixtures: runner.fixtures, hba: runner.hba,
                                                      ident: runner.ident, admin: admin, directory: runner.directory.appendingPathComponent("scenario-\(index)"),
                                                      fakes: fakes)
                    jobs.append(Job(scenario: scenario.name, runner: runner, invocation: try scenario.make(context)))
                } catch {
                    setupFailures.append("\(scenario.name) [\(runner.label)]: could not be set up: \(error)")
                }
            }
        }
        XCTAssertEqual(Set(CLIScenario.all.map(\.name)).count, CLIScenario.all.count, "scenario names are unique")

        var outcomes: [Outcome] = []
        // The scenarios without server settings first, then one group per setting, each under
        // the settings it needs (withSettings restores the server afterwards).
        for key in settingsOf.keys.sorted() {
            let group = jobs.filter { groupOf[$0.scenario] == key }
            if key.isEmpty {
                outcomes += try await run(group)
            } else {
                outcomes += try await server.withSettings(settingsOf[key]!) { try await run(group) }
            }
        }

        var lines: [String] = []
        var mismatches: [String] = []
        for outcome in outcomes {
            let line = describe(outcome)
            lines.append(line)
            let connected = outcome.psql.status == 0 && !outcome.psql.timedOut
            // --no-connect predicts: exit 4 (nothing found that stops the login) must mean libpq
            // connects, and a predicted failure (exit 3) that it does not.
            let predicts = outcome.job.invocation.arguments.contains("--no-connect")
            let checkSaysConnects = predicts ? outcome.check.status == 4 : outcome.check.status == 0
            if outcome.check.timedOut || connected != checkSaysConnects || (predicts && outcome.check.status == 0) {
                mismatches.append(line)
            } else if outcome.check.stdout.contains("prediction-contradicted") {
                // The verdict agrees, but a local prediction was wrong: a bug all the same.
                mismatches.append(line + " — with a prediction libpq contradicted")
            }
        }
        print("LibpqVerdictTests: \(outcomes.count) runs (\(outcomes.count / max(runners.count, 1)) scenarios × "
              + "\(runners.map(\.label).joined(separator: ", ")))")
        for line in lines { print("  " + line) }
        let problems = setupFailures + mismatches
        if !problems.isEmpty {
            XCTFail("pgconnect-check disagrees with libpq (psql) in \(mismatches.count) of \(outcomes.count) runs"
                    + (setupFailures.isEmpty ? "" : ", and \(setupFailures.count) could not be set up") + ":\n"
                    + problems.map { "  - " + $0 }.joined(separator: "\n"))
        }
    }

    /// libpq 15's rule for `~/.postgresql`: `HOME` when set and not empty, else the passwd entry's home.
    func testLibpqTakesTheHomeDirectoryFromHOMEFirst() async throws {
        let runners = try makeRunners()
        let runner = runners.last!
        let passwdHome = runner.user?.passwdHome ?? String(cString: getpwuid(getuid()).pointee.pw_dir)
        let context = try ScenarioContext(runner: runner.user, port: server.port, fixtures: runner.fixtures, hba: runner.hba, ident: runner.ident,
                                          admin: admin, directory: runner.directory.appendingPathComponent("home-rule"),
                                          fakes: FakeServerPorts(silent: 1, garbageAfterTLSYes: 1, closeMidHandshake: 1))
        let home = try context.home(rootCertificate: "main/root.crt", certificate: "main/alice.crt", key: "main/alice.key")
        let conninfo = "host=127.0.0.1 port=\(server.port) dbname=postgres user=alice sslmode=verify-full"
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(passwdHome)/.postgresql/root.crt"),
                       "the passwd home \(passwdHome) must not hold .postgresql/root.crt for this test")

        var observed: [String] = []
        func attempt(_ label: String, home: String?) throws -> ProcessOutcome {
            let outcome = try runPsql(conninfo, runner: runner, environment: baseEnvironment(), home: home)
            let first = outcome.stderr.split(separator: "\n").first.map(String.init) ?? ""
            observed.append("\(label): psql exit \(outcome.status)\(first.isEmpty ? "" : ": " + first)")
            return outcome
        }
        let fromHOME = try attempt("HOME=\(home) (holds .postgresql)", home: home)
        XCTAssertEqual(fromHOME.status, 0, "HOME set: libpq reads $HOME/.postgresql: \(fromHOME.stderr)")
        let emptyHome = context.directory.appendingPathComponent("empty-home").path
        try FileManager.default.createDirectory(atPath: emptyHome, withIntermediateDirectories: true)
        let fromEmptyDirectory = try attempt("HOME=\(emptyHome) (no .postgresql)", home: emptyHome)
        XCTAssertTrue(fromEmptyDirectory.stderr.contains("\"\(emptyHome)/.postgresql/root.crt\" does not exist"),
                      "HOME set: no fallback to the passwd home: \(fromEmptyDirectory.stderr)")
        let fromEmpty = try attempt("HOME= (empty)", home: "")
        XCTAssertTrue(fromEmpty.stderr.contains("\"\(passwdHome)/.postgresql/root.crt\" does not exist"),
                      "HOME empty: the passwd home: \(fromEmpty.stderr)")
        let fromUnset = try attempt("HOME unset", home: nil)
        XCTAssertTrue(fromUnset.stderr.contains("\"\(passwdHome)/.postgresql/root.crt\" does not exist"),
                      "HOME unset: the passwd home: \(fromUnset.stderr)")
        print("LibpqVerdictTests: libpq \(LibPQ.majorVersion) (\(psql!)) as \(runner.label), passwd home \(passwdHome):\n  "
              + observed.joined(separator: "\n  "))
    }

    // MARK: running

    var admin: String { "host=\(server.socketDirectory) port=\(server.port) user=postgres dbname=postgres" }

    /// Root (the test process's user) on the original files, and, when root, `pgcheck` on its own
    /// copies: the fixtures (keys 0600, everything its own), pg_hba.conf/pg_ident.conf, the binary.
    func makeRunners() throws -> [Runner] {
        let data = server.dataDirectory!
        let me = getuid() == 0 ? "root" : String(cString: getpwuid(getuid()).pointee.pw_name)
        var runners = [Runner(label: me, user: nil, fixtures: server.fixtures, hba: "\(data)/pg_hba.conf", ident: "\(data)/pg_ident.conf",
                              binary: CLIRun.binary.path, home: nil, directory: base.appendingPathComponent(me))]
        guard getuid() == 0 else { return runners }
        let user = try OSUser.ensure(Self.otherUser)
        let directory = base.appendingPathComponent(user.name)
        let copies = directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: copies, withIntermediateDirectories: true)
        let copied = try ProcessRunner.run(["/bin/cp", "-a", server.fixtures, copies.appendingPathComponent("fixtures").path], environment: [:], timeout: 60)
        guard copied.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSDebugDescriptionErrorKey: "cp -a fixtures: \(copied.stderr)"]) }
        for name in ["pg_hba.conf", "pg_ident.conf"] {
            try FileManager.default.copyItem(atPath: "\(data)/\(name)", toPath: copies.appendingPathComponent(name).path)
        }
        let home = directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try user.own(directory.path)
        let binary = base.appendingPathComponent("pgconnect-check")
        if !FileManager.default.fileExists(atPath: binary.path) {
            try FileManager.default.copyItem(at: CLIRun.binary, to: binary)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary.path)
        }
        XCTAssertNotEqual(home.path, user.passwdHome, "the non-root run's HOME differs from its passwd home")
        runners.append(Runner(label: user.name, user: user, fixtures: copies.appendingPathComponent("fixtures").path,
                              hba: copies.appendingPathComponent("pg_hba.conf").path, ident: copies.appendingPathComponent("pg_ident.conf").path,
                              binary: binary.path, home: home.path, directory: directory))
        return runners
    }

    /// The test's environment without libpq's `PG*` variables, as CLIRun runs the binary.
    func baseEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
    }

    func runPsql(_ conninfo: String, runner: Runner, environment: [String: String], home: String?) throws -> ProcessOutcome {
        try Self.execute([psql, "-X", "-w", "-c", "select 1", "-d", conninfo], runner: runner, environment: environment, home: home,
                         timeout: Self.psqlTimeout)
    }

    /// Every job, `width` at a time, on threads of their own (the runs block).
    func run(_ jobs: [Job]) async throws -> [Outcome] {
        let psql = self.psql!
        let base = baseEnvironment()
        let results = await ConcurrentRuns.map(jobs.count, width: Self.width) { index -> Result<Outcome, Error> in
            let job = jobs[index]
            return Result {
                let environment = base.merging(job.invocation.environment) { $1 }
                let home = job.invocation.environment["HOME"] ?? job.runner.home ?? base["HOME"]
                let conninfo = try Self.libpqConninfo(job.invocation.arguments)
                let runPsql = try Self.execute([psql, "-X", "-w", "-c", "select 1", "-d", conninfo], runner: job.runner,
                                               environment: environment, home: home, timeout: Self.psqlTimeout)
                let check = try Self.execute([job.runner.binary, "--format", "json"] + job.invocation.arguments, runner: job.runner,
                                             environment: environment, home: home, timeout: Self.checkTimeout)
                return Outcome(job: job, psql: runPsql, check: check)
            }
        }
        return try results.map { try $0.get() }
    }

    /// `command` as the runner with `environment` and `HOME` (nil: unset), ended after `timeout` s
    /// (coreutils timeout inside, ProcessRunner's deadline outside).
    static func execute(_ command: [String], runner: Runner, environment: [String: String], home: String?, timeout: Double) throws -> ProcessOutcome {
        var environment = environment
        let bounded = ["/usr/bin/timeout", "-k", "2", String(Int(timeout))] + command
        var outcome: ProcessOutcome
        if let user = runner.user {
            // runuser sets HOME to the passwd home; env sets it (or unsets it) for the command.
            let setHome = home.map { ["HOME=\($0)"] } ?? ["-u", "HOME"]
            outcome = try ProcessRunner.run(["/usr/sbin/runuser", "-u", user.name, "--", "/usr/bin/env"] + setHome + bounded,
                                            environment: environment, timeout: timeout + 5)
        } else {
            environment["HOME"] = home
            outcome = try ProcessRunner.run(bounded, environment: environment, timeout: timeout + 5)
        }
        // coreutils timeout: 124 after SIGTERM, 137 when it had to send SIGKILL.
        if outcome.status == 124 || outcome.status == 137 { outcome.timedOut = true }
        return outcome
    }

    /// The conninfo libpq gets for a pgconnect-check command line: its CONNINFO with each
    /// connection option appended as the keyword it overrides (a later keyword wins in libpq).
    static func libpqConninfo(_ arguments: [String]) throws -> String {
        let keywords = ["-h": "host", "--host": "host", "-p": "port", "--port": "port", "-U": "user", "--user": "user",
                        "-d": "dbname", "--dbname": "dbname", "--sslmode": "sslmode", "--sslcert": "sslcert", "--sslkey": "sslkey",
                        "--sslrootcert": "sslrootcert", "--sslcrl": "sslcrl", "--connect-timeout": "connect_timeout"]
        // What decides how pgconnect-check reports, not what libpq connects to.
        let reportOnly: Set = ["--hba", "--ident", "--admin", "--client-addr", "--expiry-warning", "--format"]
        let flags: Set = ["--no-connect", "-q", "--quiet", "-v", "--verbose"]
        var conninfo: String?
        var appended: [(String, String)] = []
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < arguments.count else { throw CocoaError(.coderInvalidValue, userInfo: [NSDebugDescriptionErrorKey: "\(arguments[index - 1]) without a value"]) }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            if let keyword = keywords[argument] {
                appended.append((keyword, try value()))
            } else if argument == "--sslpassword-file" {
                let text = try String(contentsOfFile: try value(), encoding: .utf8)
                appended.append(("sslpassword", text.hasSuffix("\n") ? String(text.dropLast()) : text))
            } else if reportOnly.contains(argument) {
                _ = try value()
            } else if flags.contains(argument) {
            } else if argument.hasPrefix("-") || conninfo != nil {
                throw CocoaError(.coderInvalidValue, userInfo: [NSDebugDescriptionErrorKey: "no libpq equivalent for \(argument)"])
            } else {
                conninfo = argument
            }
            index += 1
        }
        var result = conninfo ?? ""
        if !appended.isEmpty, result.hasPrefix("postgresql://") || result.hasPrefix("postgres://") {
            throw CocoaError(.coderInvalidValue, userInfo: [NSDebugDescriptionErrorKey: "options on a URI conninfo"])
        }
        for (keyword, value) in appended {
            let quoted = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            result += (result.isEmpty ? "" : " ") + "\(keyword)='\(quoted)'"
        }
        return result
    }

    // MARK: reporting

    /// scenario [user]: psql …; pgconnect-check exit N: first diagnosis line.
    func describe(_ outcome: Outcome) -> String {
        let psql = outcome.psql
        let psqlText: String
        if psql.timedOut {
            psqlText = "psql did not finish in \(Int(Self.psqlTimeout)) s (no connection)"
        } else if psql.status == 0 {
            psqlText = "psql connected"
        } else {
            let first = psql.stderr.split(separator: "\n").first.map(String.init) ?? "(no message)"
            psqlText = "psql failed (exit \(psql.status)): \(first)"
        }
        let check = outcome.check
        var diagnosis = "ok"
        if check.timedOut {
            diagnosis = "did not finish in \(Int(Self.checkTimeout)) s"
        } else if let json = (try? JSONSerialization.jsonObject(with: Data(check.stdout.utf8))) as? [String: Any] {
            if let found = json["diagnosis"] as? [String: Any] {
                diagnosis = "\(found["code"] as? String ?? "?"): \(found["summary"] as? String ?? "")"
            }
        } else {
            diagnosis = (check.stdout + check.stderr).split(separator: "\n").first.map(String.init) ?? "(no output)"
        }
        return "\(outcome.job.scenario) [\(outcome.job.runner.label)]: \(psqlText); pgconnect-check exit \(check.status): \(diagnosis)"
    }
}
