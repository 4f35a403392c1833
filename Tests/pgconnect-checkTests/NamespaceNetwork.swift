import Foundation
import PGTestSupport

/// The test network of scripts/netns.sh, held for the whole test process: a server namespace
/// (198.18.0.1: a real PostgreSQL with certificates for that address, a firewall, fake servers)
/// and a client namespace (198.18.0.2). `netns.sh hold` builds it and removes everything when
/// its stdin closes — at ``remove()``, or when this process ends in any way.
///
/// `@unchecked Sendable`: the mutable state (`listeners`, `removed`) is only touched under `lock`.
final class NamespaceNetwork: @unchecked Sendable {
    enum Availability: Sendable {
        case ready(NamespaceNetwork)
        /// Namespaces cannot be made here (netns.sh check says why).
        case unavailable(String)
        /// They can, but building the network failed.
        case failed(String)
    }

    /// Built on first use.
    static let shared: Availability = start()

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/netns.sh").path

    /// The server's pg_hba.conf lines before cluster.sh's `hostssl all all 127.0.0.1/32 cert`.
    static let hbaLines = [
        "hostssl postgres all 127.0.0.1/32 reject",
        "hostssl postgres all 198.18.0.2/32 cert",
        "hostssl loopdb all 127.0.0.1/32 cert",
    ]

    /// The namespace pair's name (NAME-s, NAME-c).
    let name: String
    /// PKI (pki/) and cluster (cluster/) directory; removed with the network.
    let directory: String
    private let hold: Process
    private let holdInput: Pipe
    private let log: String
    private let psqlPath: String
    private let lock = NSLock()
    private var listeners: [String: Int] = [:]
    private var removed = false

    private init(name: String, directory: String, hold: Process, holdInput: Pipe, log: String, psqlPath: String) {
        self.name = name
        self.directory = directory
        self.hold = hold
        self.holdInput = holdInput
        self.log = log
        self.psqlPath = psqlPath
    }

    private static func start() -> Availability {
        guard let check = try? run([script, "check"]) else { return .failed("cannot run \(script)") }
        guard check.status == 0 else {
            return .unavailable(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + check.stderr)
        }
        let name = "pgc\(getpid())"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-netns-\(getpid())").path
        let log = directory + ".log"
        let hold = Process()
        hold.executableURL = URL(fileURLWithPath: script)
        hold.arguments = ["hold", name, directory] + hbaLines.flatMap { ["--hba-line", $0] }
        let input = Pipe(), output = Pipe()
        hold.standardInput = input
        hold.standardOutput = output
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        hold.standardError = FileHandle(forWritingAtPath: log)
        do {
            try hold.run()
        } catch {
            return .failed("cannot run \(script): \(error)")
        }
        // "ready" once the server runs; end of file if the script gave up.
        var said = Data()
        while !said.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said.append(chunk)
        }
        let problems = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard String(decoding: said, as: UTF8.self).hasPrefix("ready") else {
            hold.waitUntilExit()
            try? FileManager.default.removeItem(atPath: log)
            return .failed("netns.sh hold exited with \(hold.terminationStatus): \(problems)")
        }
        let environment = (try? String(contentsOfFile: "\(directory)/cluster/cluster.env", encoding: .utf8)) ?? ""
        let bindir = environment.split(separator: "\n").first { $0.hasPrefix("PGCONNECT_PG_BINDIR=") }
            .map { String($0.dropFirst("PGCONNECT_PG_BINDIR=".count)) }
        let network = NamespaceNetwork(name: name, directory: directory, hold: hold, holdInput: input, log: log,
                                       psqlPath: bindir.map { "\($0)/psql" } ?? "psql")
        return .ready(network)
    }

    /// Runs the rest of a command line in the client namespace.
    var client: [String] { [Self.script, "client", name] }

    /// The server's own pg_hba.conf.
    var hbaFile: String { "\(directory)/cluster/data/pg_hba.conf" }

    /// A verified certificate login as alice to the server namespace, with connect_timeout.
    func conninfo(dbname: String = "postgres", port: Int = 5432) -> String {
        let pki = "\(directory)/pki"
        return "host=198.18.0.1 port=\(port) dbname=\(dbname) user=alice sslmode=verify-full sslrootcert=\(pki)/root.crt "
            + "sslcert=\(pki)/alice.crt sslkey=\(pki)/alice.key connect_timeout=\(NetworkNamespaceTests.connectTimeout)"
    }

    /// What the server namespace does with TCP SYNs to port 5432 (netns.sh firewall).
    func firewall(_ mode: String) throws {
        let result = try Self.run([Self.script, "firewall", name, mode])
        guard result.status == 0 else { throw Failure("netns.sh firewall \(mode): \(result.stderr)") }
    }

    /// The port of a fake server in the server namespace (netns.sh listen), started on first use;
    /// it runs until the network is removed.
    func listen(_ mode: String) throws -> Int {
        try lock.withLock {
            if let port = listeners[mode] { return port }
            let port = 5433 + listeners.count
            let result = try Self.run([Self.script, "listen", name, String(port), mode])
            guard result.status == 0 else { throw Failure("netns.sh listen \(mode): \(result.stderr)") }
            listeners[mode] = port
            return port
        }
    }

    /// Runs `body` while the server's postmaster is stopped with SIGSTOP: the kernel still accepts
    /// TCP connections into its backlog, but nobody reads them.
    func withPostmasterStopped(_ body: () throws -> Void) throws {
        let pidFile = (try? String(contentsOfFile: "\(directory)/cluster/data/postmaster.pid", encoding: .utf8)) ?? ""
        guard let pid = pidFile.split(separator: "\n").first.flatMap({ pid_t($0) }), pid > 0 else {
            throw Failure("no postmaster.pid in \(directory)/cluster/data")
        }
        guard kill(pid, SIGSTOP) == 0 else { throw Failure("cannot stop the postmaster \(pid): errno \(errno)") }
        defer { kill(pid, SIGCONT) }
        try body()
    }

    /// psql in the client namespace: `select 1` over `conninfo`, no psqlrc, never a prompt.
    func psql(_ conninfo: String) throws -> PSQLRun {
        let start = Date()
        let outcome = try Self.run(client + [psqlPath, "-X", "-w", "-At", "-c", "select 1", conninfo])
        return PSQLRun(outcome: outcome, seconds: Date().timeIntervalSince(start))
    }

    /// Ends `netns.sh hold` (it stops the server and removes the namespaces and the directory);
    /// waits up to 60 s for it, then stops it with SIGTERM, which cleans up the same way.
    func remove() {
        let first = lock.withLock {
            defer { removed = true }
            return !removed
        }
        guard first else { return }
        try? holdInput.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(60)
        while hold.isRunning, Date() < deadline { usleep(50_000) }
        if hold.isRunning {
            hold.terminate()
            hold.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: log)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs a command with this process's environment less the `PG*` variables; stopped after 60 s.
    static func run(_ command: [String]) throws -> ProcessOutcome {
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") }
        return try ProcessRunner.run(command, environment: environment, timeout: 60)
    }
}

/// One psql run: libpq's message is what follows `psql: error: ` on stderr.
struct PSQLRun {
    var outcome: ProcessOutcome
    /// Wall time.
    var seconds: Double

    var status: Int32 { outcome.status }
    var stderr: String { outcome.stderr }

    var message: String {
        let text = stderr.hasPrefix("psql: error: ") ? String(stderr.dropFirst("psql: error: ".count)) : stderr
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
