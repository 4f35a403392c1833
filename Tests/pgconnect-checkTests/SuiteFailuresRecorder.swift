import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// Records `Tests/PGDiagnosticsTests/Corpus/suite-failures.json`: for every scenario of
/// ``CLIScenario/all`` that fails under psql, on the PostgreSQL 15 and 17 test servers, the
/// client's message exactly as psql prints it (the system psql, on the libpq pgconnect-check links)
/// and the server's log lines for that connection, each with the diagnosis code a person reading
/// only that text should be told first (``SuiteFailureExpectations``).
///
/// Record mode only: `PGCONNECT_RECORD_SUITE_FAILURES=1 scripts/test.sh --filter SuiteFailuresRecorder`
/// (see the corpus folder's README.md). Otherwise it skips. It fails, writing nothing, when a
/// failing scenario has no expectation, or when one text would get two different codes.
final class SuiteFailuresRecorder: XCTestCase {
    static let environmentVariable = "PGCONNECT_RECORD_SUITE_FAILURES"
    static let psqlTimeout = 8.0

    static var fixtureURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("PGDiagnosticsTests/Corpus/suite-failures.json")
    }

    /// One captured run: psql against one server for one scenario.
    struct Capture: Sendable {
        var scenario: String
        /// The server's major version; nil when no PostgreSQL server took part (nothing in its log).
        var serverVersion: Int?
        var psql: ProcessOutcome
        /// The server's lines for the connection(s), normalised.
        var serverLines: [String]
    }

    /// One fixture entry.
    struct Entry: Encodable {
        var id: String
        var scenarios: [String]
        var serverVersion: Int?
        var side: String
        var text: String
        var expectedCode: String
        var reason: String

        enum CodingKeys: String, CodingKey {
            case id, scenarios, side, text, reason
            case serverVersion = "server_version"
            case expectedCode = "expected_code"
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(scenarios, forKey: .scenarios)
            if let serverVersion { try container.encode(serverVersion, forKey: .serverVersion) } else { try container.encodeNil(forKey: .serverVersion) }
            try container.encode(side, forKey: .side)
            try container.encode(text, forKey: .text)
            try container.encode(expectedCode, forKey: .expectedCode)
            try container.encode(reason, forKey: .reason)
        }
    }

    struct Fixture: Encodable {
        var description: String
        var libpq: String
        var servers: [String: String]
        var normalised: [String]
        var entries: [Entry]
    }

    func testRecordSuiteFailuresFromBothEnds() async throws {
        guard ProcessInfo.processInfo.environment[Self.environmentVariable] == "1" else {
            throw XCTSkip("record mode only: \(Self.environmentVariable)=1 scripts/test.sh --filter SuiteFailuresRecorder")
        }
        guard let server15 = TestServer.shared, let server17 = TestServer.postgres17, server15.dataDirectory != nil, server17.dataDirectory != nil,
              ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil else {
            return XCTFail("record mode needs both servers from scripts/test.sh (PGCONNECT_TEST_ENV, PGCONNECT_TEST_ENV_17, PGCONNECT_TEST_FIXTURES)")
        }
        guard let psql = LibpqVerdictTests.psqlPath(server15) else { return XCTFail("no psql for the system libpq") }
        let servers = [server15, server17]

        let silent = try SilentListener()
        let garbage = try MisbehavingServer(.garbageAfterTLSYes)
        let midHandshake = try MisbehavingServer(.closeMidHandshake)
        let fakes = FakeServerPorts(silent: silent.port, garbageAfterTLSYes: garbage.port, closeMidHandshake: midHandshake.port)
        defer { withExtendedLifetime((silent, garbage, midHandshake)) {} }

        let base = URL(fileURLWithPath: "/tmp").appendingPathComponent("pgconnect-suite-failures-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: base.path)
        defer { try? FileManager.default.removeItem(at: base) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }

        // Jobs per server, grouped by the server settings they need.
        struct Job: Sendable {
            var scenario: String
            var invocation: CLIInvocation
            var directory: String
        }
        var groups: [String: (settings: [String: String], jobs: [[Job]])] = [:]
        for (index, scenario) in CLIScenario.all.enumerated() where scenario.notComparable == nil {
            let settings = scenario.settings(server15.fixtures)
            let key = settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            if groups[key] == nil { groups[key] = (settings, [[], []]) }
            for (which, server) in servers.enumerated() {
                let directory = base.appendingPathComponent("s\(which)-\(index)")
                let context = try ScenarioContext(runner: nil, port: server.port, fixtures: server.fixtures, hba: "\(server.dataDirectory!)/pg_hba.conf",
                                                  ident: "\(server.dataDirectory!)/pg_ident.conf",
                                                  admin: "host=\(server.socketDirectory) port=\(server.port) user=postgres dbname=postgres",
                                                  directory: directory, fakes: fakes)
                groups[key]!.jobs[which].append(Job(scenario: scenario.name, invocation: try scenario.make(context), directory: directory.path))
            }
        }

        let work = (server15.fixtures as NSString).deletingLastPathComponent
        let normaliser = Normaliser(work: work, scenarioDirectories: base.path, ports: [server15.port, server17.port, fakes.silent,
                                                                                     fakes.garbageAfterTLSYes, fakes.closeMidHandshake])
        var captures: [Capture] = []
        for key in groups.keys.sorted() {
            let group = groups[key]!
            // One thread per server: within a server the runs go one at a time, so the log lines
            // after each run's offset are that run's.
            let run: @Sendable () async -> [[Capture]] = {
                await ConcurrentRuns.map(servers.count, width: servers.count) { which in
                    let server = servers[which]
                    let log = ServerLog(path: server.logFile!)
                    return group.jobs[which].map { job in
                        let offset = log.offset()
                        let outcome: ProcessOutcome
                        do {
                            let conninfo = try LibpqVerdictTests.libpqConninfo(job.invocation.arguments)
                            let runner = LibpqVerdictTests.Runner(label: "self", user: nil, fixtures: server.fixtures, hba: "", ident: "",
                                                                  binary: psql, home: nil, directory: URL(fileURLWithPath: job.directory))
                            let environment = environment.merging(job.invocation.environment) { $1 }
                            outcome = try LibpqVerdictTests.execute([psql, "-X", "-w", "-c", "select 1", "-d", conninfo], runner: runner,
                                                                    environment: environment,
                                                                    home: job.invocation.environment["HOME"] ?? environment["HOME"],
                                                                    timeout: Self.psqlTimeout)
                        } catch {
                            outcome = ProcessOutcome(status: -1, stdout: "", stderr: "could not run psql: \(error)", timedOut: false)
                        }
                        let lines = log.connectionEntries(after: offset)
                        return Capture(scenario: job.scenario, serverVersion: lines.isEmpty ? nil : server.majorVersion, psql: outcome,
                                       serverLines: normaliser.serverLines(lines, job.directory))
                    }
                }
            }
            let results = key.isEmpty ? await run() : try await server15.withSettings(group.settings) {
                try await server17.withSettings(group.settings) { await run() }
            }
            captures += results.flatMap { $0 }
        }

        // Entries: one per distinct (side, server version, text).
        var problems: [String] = []
        var entries: [Entry] = []
        func add(_ side: String, _ version: Int?, _ text: String, _ scenario: String) {
            guard let expectation = SuiteFailureExpectations.expectation(scenario: scenario, side: side, serverVersion: version) else {
                problems.append("no expectation for \(side) text of \"\(scenario)\" (PostgreSQL \(version.map(String.init) ?? "none")):\n      \(text.replacingOccurrences(of: "\n", with: "\n      "))")
                return
            }
            if let index = entries.firstIndex(where: { $0.side == side && $0.serverVersion == version && $0.text == text }) {
                if entries[index].expectedCode != expectation.code {
                    problems.append("one \(side) text, two codes: \(entries[index].expectedCode) (\(entries[index].scenarios.joined(separator: ", "))) and \(expectation.code) (\(scenario)):\n      \(text)")
                }
                if !entries[index].scenarios.contains(scenario) { entries[index].scenarios.append(scenario) }
                return
            }
            entries.append(Entry(id: "", scenarios: [scenario], serverVersion: version, side: side, text: text,
                                 expectedCode: expectation.code, reason: expectation.reason))
        }
        var timedOut: [String] = []
        for capture in captures {
            let failed = capture.psql.status != 0
            guard failed else { continue }
            if capture.psql.timedOut || capture.psql.stderr.isEmpty {
                timedOut.append("\(capture.scenario) (PostgreSQL \(capture.serverVersion.map(String.init) ?? "none"))")
            } else {
                add("client", capture.serverVersion, normaliser.clientText(capture.psql.stderr, directoryPrefix: base.path), capture.scenario)
            }
            if !capture.serverLines.isEmpty {
                add("server", capture.serverVersion, capture.serverLines.joined(separator: "\n"), capture.scenario)
            }
        }
        // Client texts that do not depend on the server (no server took part) appear once per
        // server run: keep one.
        var seenNoServer = Set<String>()
        entries = entries.filter { $0.serverVersion != nil || seenNoServer.insert($0.side + "\u{0}" + $0.text).inserted }
        var ids = Set<String>()
        for index in entries.indices {
            let entry = entries[index]
            var id = "\(entry.side)-\(entry.serverVersion.map { "pg\($0)" } ?? "any")-\(Self.slug(entry.scenarios[0]))"
            var counter = 2
            while ids.contains(id) { id = "\(entry.side)-\(entry.serverVersion.map { "pg\($0)" } ?? "any")-\(Self.slug(entry.scenarios[0]))-\(counter)"; counter += 1 }
            ids.insert(id)
            entries[index].id = id
        }

        print("SuiteFailuresRecorder: \(captures.count) psql runs, \(entries.count) entries; no message (psql timed out): \(timedOut.joined(separator: "; "))")
        guard problems.isEmpty else {
            return XCTFail("not written: \(problems.count) problems:\n  - " + problems.joined(separator: "\n  - "))
        }
        let libpq = try ProcessRunner.run([psql, "--version"], environment: environment, timeout: 10).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var versions: [String: String] = [:]
        for server in servers {
            let admin = try await Connection.connect(server.admin, timeout: .seconds(10))
            versions[String(server.majorVersion ?? 0)] = try await admin.query("SELECT version()")[0][0].string ?? ""
            await admin.close()
        }
        let fixture = Fixture(
            description: "The failures the integration suite reproduces (Tests/pgconnect-checkTests/CLIScenarios.swift), from both ends: psql's message and the server's log lines for the connection, on PostgreSQL 15 and 17. Recorded by SuiteFailuresRecorder; see README.md.",
            libpq: libpq, servers: versions, normalised: Normaliser.description, entries: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try (encoder.encode(fixture) + Data("\n".utf8)).write(to: Self.fixtureURL)
        print("SuiteFailuresRecorder: wrote \(Self.fixtureURL.path)")
    }

    static func slug(_ name: String) -> String {
        var slug = ""
        for character in name.lowercased() {
            if character.isLetter || character.isNumber { slug.append(character) } else if !slug.hasSuffix("-") { slug.append("-") }
        }
        return String(slug.trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(60))
    }
}

/// Makes a recorded text independent of the run: the same failure gives the same text each time.
struct Normaliser: Sendable {
    /// The mktemp directory of test.sh (fixtures/, cluster/, cluster17/ under it).
    var work: String
    /// The recorder's directory holding each scenario's own directory.
    var scenarioDirectories: String
    /// The test servers' and fake servers' ports.
    var ports: [Int]

    static let description = [
        "the test command's temporary directory (/tmp/pgconnect-test.XXXXXX) is /tmp/pgconnect-test",
        "a scenario's own directory is /tmp/pgconnect-scenario",
        "the test servers' and fake servers' ports are 5432; a client port in `connection received` is 50000",
        "server log lines keep the prefix '%m [%p] ' with the time 2025-01-01 00:00:00.000 UTC and the backends' pids numbered from 10001 in order of appearance",
        "nothing else: certificate subjects, issuers and serial numbers are those of the fixtures made for the recording",
    ]

    func paths(_ text: String, _ directory: String? = nil) -> String {
        var text = text
        if let directory { text = text.replacingOccurrences(of: directory, with: "/tmp/pgconnect-scenario") }
        text = text.replacingOccurrences(of: work, with: "/tmp/pgconnect-test")
        for port in ports {
            text = text.replacingOccurrences(of: "port \(port) failed", with: "port 5432 failed")
            text = text.replacingOccurrences(of: "\", port \(port)", with: "\", port 5432")
        }
        return text
    }

    func clientText(_ stderr: String, directoryPrefix: String) -> String {
        var text = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        // The scenario directories are <prefix>/s<server>-<index>.
        if let regex = try? NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: directoryPrefix) + #"/s\d+-\d+"#) {
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "/tmp/pgconnect-scenario")
        }
        return paths(text)
    }

    func serverLines(_ entries: [ServerLog.Entry], _ directory: String) -> [String] {
        var pids: [Int: Int] = [:]
        return entries.map { entry in
            let pid = pids[entry.pid] ?? {
                let next = 10001 + pids.count
                pids[entry.pid] = next
                return next
            }()
            var message = entry.message
            if message.hasPrefix("LOG:  connection received: "), let range = message.range(of: #"port=\d+"#, options: .regularExpression) {
                message.replaceSubrange(range, with: "port=50000")
            }
            let normalised = ServerLog.Entry(timestamp: "2025-01-01 00:00:00.000 UTC", pid: pid, message: message, continuation: entry.continuation)
            return paths(normalised.text, directory)
        }
    }
}
