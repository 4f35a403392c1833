import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// The suite's CLI scenarios against PostgreSQL 16 and 17 as well as 15: test.sh starts the
/// servers with the same certificates, pg_hba.conf, pg_ident.conf, roles and databases, and each
/// scenario that talks to a server runs once against each (the same binary, the same libpq). The
/// 16 and 17 runs must give what the 15 run gives — exit status, outcome, diagnosis code and
/// layer, warnings, libpq's message (the server's words, but for its port), and where the
/// pg_hba/pg_ident simulation decided (`--hba/--ident`, `--admin`, `--no-connect`) the same
/// `hba_line` and `ident_map` — which is what proves the simulator's claim to follow the rules
/// of 15 to 17 on these files. A difference a newer server makes for a real reason is listed in
/// ``differences`` with that reason and the PostgreSQL source that shows it. And the simulator's
/// line and map must be the ones each server logs having used for the same login
/// (``testSimulatedLineAndMapAreTheOnesEachServerLogs``). A server scripts/versions.sh could not
/// fetch is left out (said in the output); without 16 and 17 the tests skip.
///
/// Which scenarios: every one of ``CLIScenario/all`` but ``CLIScenario/hostile`` (paths that are
/// not files, fake servers: what the client does with its own input, whatever the server). The
/// runs of all servers go side by side, eight at a time (about 90 runs each, a few seconds).
final class ServerVersionMatrixTests: XCTestCase {
    /// What a script reads from one report.
    struct Verdict: Equatable, Sendable, CustomStringConvertible {
        var status: Int32
        var outcome: String?
        var code: String?
        var layer: String?
        /// "line N: text" (the file's directory differs between the servers).
        var hbaLine: String?
        var identMap: String?
        var warnings: [String]
        /// libpq's message with the server's port as `PORT`, the scenario's directory as `DIR`, and
        /// without the `LOCATION:` line (the server's source file and line: they differ by version).
        var libpqMessage: String?

        var description: String {
            var parts = ["exit \(status)", outcome ?? "-", code.map { "\($0)/\(layer ?? "?")" } ?? "no diagnosis"]
            if let hbaLine { parts.append("hba_line \(hbaLine)") }
            if let identMap { parts.append("ident_map \(identMap)") }
            if !warnings.isEmpty { parts.append("warnings \(warnings.joined(separator: ","))") }
            return parts.joined(separator: " ")
        }

        init(_ run: ProcessOutcome, port: Int, directory: String) {
            status = run.status
            let json = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any]
            outcome = json?["outcome"] as? String
            let diagnosis = json?["diagnosis"] as? [String: Any]
            code = diagnosis?["code"] as? String
            layer = diagnosis?["layer"] as? String
            if let line = diagnosis?["hba_line"] as? [String: Any] {
                hbaLine = "\(line["line"] as? Int ?? 0): \(line["text"] as? String ?? "")"
            }
            identMap = diagnosis?["ident_map"] as? String
            warnings = ((json?["warnings"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }.sorted()
            libpqMessage = (diagnosis?["libpq_message"] as? String).map { message in
                message.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("LOCATION:  ") }
                    .joined(separator: "\n")
                    .replacingOccurrences(of: "port \(port) ", with: "port PORT ")
                    .replacingOccurrences(of: directory, with: "DIR")
            }
        }
    }

    /// A scenario whose verdict on a newer server differs from 15's for a reason of the server's.
    struct Difference: Sendable {
        /// The first server major version that gives it.
        var since: Int
        /// What that server's run gives instead, from the 15 run's verdict.
        var verdict: @Sendable (Verdict) -> Verdict
        /// Why, in one sentence, with the PostgreSQL source that shows it.
        var reason: String
    }

    /// None so far: every scenario gives PostgreSQL 16 and 17 the verdict it gives 15 (see the
    /// comment on ``scenarios`` for what was compared). Add one here, with its reason and source,
    /// when a scenario's verdict must differ between the servers.
    static let differences: [String: Difference] = [:]

    /// The scenarios that talk to the server (all but the hostile-input ones).
    static var scenarios: [CLIScenario] {
        let hostile = Set(CLIScenario.hostile.map(\.name))
        return CLIScenario.all.filter { !hostile.contains($0.name) }
    }

    static let width = 8
    static let timeout = 40.0

    func testOtherServersAreConfiguredLikeTheFirst() async throws {
        let (server15, others) = try servers()
        XCTAssertEqual(server15.majorVersion, 15, "the first server is Debian's PostgreSQL 15")
        for (server, major) in others {
            XCTAssertEqual(server.majorVersion, major, "PGCONNECT_TEST_ENV_\(major)'s cluster.env/PG_VERSION")
            for file in ["pg_hba.conf", "pg_ident.conf"] {
                let first = try String(contentsOfFile: "\(server15.dataDirectory!)/\(file)", encoding: .utf8)
                let other = try String(contentsOfFile: "\(server.dataDirectory!)/\(file)", encoding: .utf8)
                XCTAssertEqual(first, other, "\(file) differs between the PostgreSQL 15 and \(major) test servers")
            }
        }
        var answers: [[String]] = []
        for server in [server15] + others.map(\.server) {
            let admin = try await Connection.connect(server.admin, timeout: .seconds(10))
            let version = try await admin.query("SELECT current_setting('server_version_num')::int / 10000")[0][0].int
            XCTAssertEqual(version, server.majorVersion, "\(server.label): the server's own version")
            let rows = try await admin.query("""
                SELECT 'role ' || rolname || ' ' || rolcanlogin FROM pg_roles WHERE rolname !~ '^pg_'
                UNION ALL SELECT 'database ' || datname FROM pg_database
                UNION ALL SELECT name || '=' || setting FROM pg_settings
                  WHERE name IN ('ssl', 'ssl_ca_file', 'ssl_cert_file', 'ssl_key_file', 'ssl_min_protocol_version', 'log_connections',
                                 'log_line_prefix', 'password_encryption')
                ORDER BY 1
                """)
            answers.append(rows.compactMap { $0[0].string })
            await admin.close()
            // A certificate login, as every scenario starts.
            let login = try await Connection.connect(server.options(), timeout: .seconds(10))
            await login.close()
        }
        for (index, (_, major)) in others.enumerated() {
            XCTAssertEqual(answers[0], answers[index + 1], "roles, databases and TLS settings differ between the PostgreSQL 15 and \(major) test servers")
        }
    }

    func testScenariosGiveTheSameVerdictOnPostgres16And17AsOn15() async throws {
        let (server15, others) = try servers()
        let base = URL(fileURLWithPath: "/tmp").appendingPathComponent("pgconnect-versions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: base.path)
        defer { try? FileManager.default.removeItem(at: base) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }

        struct Job: Sendable {
            var scenario: String
            var server: Int
            var directory: String
            var invocation: CLIInvocation
        }
        let servers = [server15] + others.map(\.server)
        var groups: [String: (settings: [String: String], jobs: [Job])] = [:]
        for (index, scenario) in Self.scenarios.enumerated() {
            let settings = scenario.settings(server15.fixtures)
            let key = settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            for (which, server) in servers.enumerated() {
                let directory = base.appendingPathComponent("server-\(which)/scenario-\(index)")
                let invocation = try scenario.invocation(server: server, directory: directory)
                groups[key, default: (settings, [])].jobs.append(Job(scenario: scenario.name, server: which, directory: directory.path,
                                                                     invocation: invocation))
            }
        }

        var verdicts: [String: [Int: Verdict]] = [:]
        for key in groups.keys.sorted() {
            let group = groups[key]!
            let jobs = group.jobs
            let run: @Sendable () async -> [ProcessOutcome] = {
                await ConcurrentRuns.map(jobs.count, width: Self.width) { index in
                    let job = jobs[index]
                    let command = ["/usr/bin/timeout", "-k", "2", String(Int(Self.timeout)), CLIRun.binary.path, "--format", "json"]
                        + job.invocation.arguments
                    do {
                        return try ProcessRunner.run(command, environment: environment.merging(job.invocation.environment) { $1 },
                                                     timeout: Self.timeout + 5)
                    } catch {
                        return ProcessOutcome(status: -1, stdout: "", stderr: "could not run: \(error)", timedOut: false)
                    }
                }
            }
            let outcomes: [ProcessOutcome]
            if key.isEmpty {
                outcomes = await run()
            } else {
                outcomes = try await Self.withSettings(group.settings, on: servers[...]) { await run() }
            }
            for (job, outcome) in zip(jobs, outcomes) {
                verdicts[job.scenario, default: [:]][job.server] = Verdict(outcome, port: servers[job.server].port, directory: job.directory)
            }
        }

        var lines: [String] = []
        var problems: [String] = []
        for scenario in Self.scenarios {
            guard let on15 = verdicts[scenario.name]?[0] else {
                problems.append("\(scenario.name): not run")
                continue
            }
            var line = "\(scenario.name): 15 \(on15)"
            if on15.status < 0 || on15.status >= 64 { problems.append("\(scenario.name) on 15: \(on15) — a run failed to run or was killed") }
            for (offset, (_, major)) in others.enumerated() {
                guard let verdict = verdicts[scenario.name]?[offset + 1] else {
                    problems.append("\(scenario.name) on \(major): not run")
                    continue
                }
                var expected = on15
                var note = ""
                if let difference = Self.differences[scenario.name], major >= difference.since {
                    expected = difference.verdict(on15)
                    note = " (differs on purpose: \(difference.reason))"
                }
                line += " | \(major) \(verdict)\(note)"
                if verdict != expected {
                    let messages = verdict.libpqMessage == expected.libpqMessage ? ""
                        : "; libpq's message on 15: \(expected.libpqMessage ?? "none"), on \(major): \(verdict.libpqMessage ?? "none")"
                    problems.append("\(scenario.name): 15 \(on15) | \(major) \(verdict) — expected on \(major): \(expected)\(messages)")
                }
                if verdict.status < 0 || verdict.status >= 64 { problems.append("\(scenario.name) on \(major): \(verdict) — a run failed to run or was killed") }
            }
            lines.append(line)
        }
        print("ServerVersionMatrixTests: \(Self.scenarios.count) scenarios on \(servers.map(\.label).joined(separator: ", ")):")
        for line in lines { print("  " + line) }
        if !problems.isEmpty {
            XCTFail("a newer server gives another verdict than 15 in \(problems.count) runs:\n" + problems.map { "  - " + $0 }.joined(separator: "\n"))
        }
    }

    /// `body` with `settings` applied on every server of `servers` (and reset afterwards).
    static func withSettings<T>(_ settings: [String: String], on servers: ArraySlice<TestServer>, _ body: () async throws -> T) async throws -> T {
        guard let first = servers.first else { return try await body() }
        return try await first.withSettings(settings) { try await withSettings(settings, on: servers.dropFirst(), body) }
    }

    /// The simulator's decision against each server's own: for every refused login of the
    /// authentication and simulation scenarios, pgconnect-check with the server's pg_hba.conf and
    /// pg_ident.conf (`--hba/--ident`, added where the scenario has neither them nor `--admin`) must
    /// name the line the server logs having matched (`Connection matched pg_hba.conf line N` in 15,
    /// `Connection matched file "…" line N` from 16, and `connection authenticated: … (…:N)`) and
    /// the map it logs (`no match in usermap "M"`), and no line where the server logs
    /// `no pg_hba.conf entry`. psql makes the same login while its log lines are read, one login
    /// at a time per server (both servers side by side).
    func testSimulatedLineAndMapAreTheOnesEachServerLogs() async throws {
        let (server15, others) = try servers()
        guard let psql = LibpqVerdictTests.psqlPath(server15) else { throw XCTSkip("no psql") }
        let skipped: Set = ["simulation with an edited pg_hba.conf", "--no-connect --client-addr 127.0.0.9"]
        let scenarios = (CLIScenario.authentication + CLIScenario.simulation).filter { !skipped.contains($0.name) }
        let base = URL(fileURLWithPath: "/tmp").appendingPathComponent("pgconnect-hba-lines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: base.path)
        defer { try? FileManager.default.removeItem(at: base) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        let servers = [server15] + others.map(\.server)
        var invocations: [[(String, CLIInvocation)]] = Array(repeating: [], count: servers.count)
        var settingsFree: [CLIScenario] = []
        for scenario in scenarios where scenario.settings(server15.fixtures).isEmpty { settingsFree.append(scenario) }
        for (which, server) in servers.enumerated() {
            for (index, scenario) in settingsFree.enumerated() {
                var invocation = try scenario.invocation(server: server, directory: base.appendingPathComponent("\(which)-\(index)"))
                if !invocation.arguments.contains("--hba"), !invocation.arguments.contains("--admin") {
                    invocation.arguments += ["--hba", "\(server.dataDirectory!)/pg_hba.conf", "--ident", "\(server.dataDirectory!)/pg_ident.conf"]
                }
                invocations[which].append((scenario.name, invocation))
            }
        }
        let jobs = invocations
        let results: [[String]] = await ConcurrentRuns.map(servers.count, width: servers.count) { which in
            let server = servers[which]
            let log = ServerLog(path: server.logFile!)
            var lines: [String] = []
            for (name, invocation) in jobs[which] {
                let environment = environment.merging(invocation.environment) { $1 }
                do {
                    let check = try ProcessRunner.run(["/usr/bin/timeout", "-k", "2", "40", CLIRun.binary.path, "--format", "json"] + invocation.arguments,
                                                      environment: environment, timeout: 45)
                    let verdict = Verdict(check, port: server.port, directory: "")
                    guard verdict.code != nil, verdict.layer == "authentication" || verdict.layer == "authorization" else { continue }
                    let offset = log.offset()
                    let conninfo = try LibpqVerdictTests.libpqConninfo(invocation.arguments)
                    _ = try ProcessRunner.run(["/usr/bin/timeout", "-k", "2", "10", psql, "-X", "-w", "-c", "select 1", "-d", conninfo],
                                              environment: environment, timeout: 15)
                    let logged = Self.serverDecision(log.connectionEntries(after: offset).map(\.text))
                    let simulated = verdict.hbaLine.flatMap { Int($0.prefix { $0 != ":" }) }
                    var problems: [String] = []
                    if logged.noEntry, verdict.hbaLine != nil { problems.append("the server found no line, the simulation \(verdict.hbaLine!)") }
                    if let line = logged.line, simulated != line { problems.append("the server matched line \(line), the simulation \(simulated.map(String.init) ?? "none")") }
                    if let map = logged.map, verdict.identMap != map { problems.append("the server used map \(map), the simulation \(verdict.identMap ?? "none")") }
                    if logged.line == nil, logged.map == nil, !logged.noEntry { continue }  // the server named nothing to compare
                    let text = "\(name) on \(server.label): server line \(logged.line.map(String.init) ?? (logged.noEntry ? "none" : "?"))"
                        + " map \(logged.map ?? "-"); simulated \(verdict.code ?? "") line \(simulated.map(String.init) ?? "none") map \(verdict.identMap ?? "-")"
                    lines.append((problems.isEmpty ? "ok   " : "FAIL ") + text + (problems.isEmpty ? "" : " — " + problems.joined(separator: "; ")))
                } catch {
                    lines.append("FAIL \(name) on \(server.label): could not run: \(error)")
                }
            }
            return lines
        }
        let all = results.flatMap { $0 }
        print("ServerVersionMatrixTests: the simulated pg_hba line and pg_ident map against what each server logs (\(all.count) logins):")
        for line in all { print("  " + line) }
        for version in servers.compactMap(\.majorVersion) {
            XCTAssertTrue(all.contains { $0.hasPrefix("ok") && $0.contains("PostgreSQL \(version) ") }, "no login compared on PostgreSQL \(version)")
        }
        let failures = all.filter { $0.hasPrefix("FAIL") }
        if !failures.isEmpty { XCTFail("the simulation and the server disagree:\n" + failures.joined(separator: "\n")) }
    }

    /// The pg_hba line and pg_ident map a server logs having used for one login.
    static func serverDecision(_ entries: [String]) -> (line: Int?, map: String?, noEntry: Bool) {
        var line: Int?
        var map: String?
        var noEntry = false
        for entry in entries {
            // 15: Connection matched pg_hba.conf line N: "…"; 16+: Connection matched file "…" line N: "…"
            if let range = entry.range(of: #"Connection matched (pg_hba\.conf|file "[^"]*") line (\d+):"#, options: .regularExpression) {
                line = Int(entry[range].split(separator: " ").last!.dropLast())
            } else if let range = entry.range(of: #"connection authenticated: .* \(.*pg_hba\.conf:(\d+)\)"#, options: .regularExpression) {
                line = line ?? Int(entry[range].split(separator: ":").last!.dropLast())
            }
            if let range = entry.range(of: #"no match in usermap "[^"]*""#, options: .regularExpression) {
                map = String(entry[range].dropFirst("no match in usermap \"".count).dropLast())
            }
            if entry.contains("FATAL:  no pg_hba.conf entry") { noEntry = true }
        }
        return (line, map, noEntry)
    }

    /// The PostgreSQL 15 server, and the newer ones test.sh started with their major versions
    /// (16, 17); a missing one is said in the output, and with neither the test skips.
    func servers() throws -> (TestServer, [(server: TestServer, major: Int)]) {
        guard let server15 = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil,
              server15.dataDirectory != nil else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh (PGCONNECT_TEST_ENV, PGCONNECT_TEST_FIXTURES)")
        }
        var others: [(server: TestServer, major: Int)] = []
        for (server, major) in [(TestServer.postgres16, 16), (TestServer.postgres17, 17)] {
            if let server, server.dataDirectory != nil {
                others.append((server, major))
            } else {
                print("ServerVersionMatrixTests: no PostgreSQL \(major) server (PGCONNECT_TEST_ENV_\(major); scripts/versions.sh fetches the build): left out")
            }
        }
        guard !others.isEmpty else {
            throw XCTSkip("needs the PostgreSQL 16 or 17 server from scripts/test.sh (PGCONNECT_TEST_ENV_16, PGCONNECT_TEST_ENV_17; scripts/versions.sh fetches the builds)")
        }
        return (server15, others)
    }
}
