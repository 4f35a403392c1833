import Foundation

/// Real PostgreSQL data directories for tests of the server's own behaviour: one `initdb` per test
/// process (a template), copied per case with `cp -a`, started, reloaded and stopped with `pg_ctl` as
/// the `postgres` OS user on 127.0.0.1 and a free port. Root only (the server must not run as root,
/// and the files are handed to `postgres`); `make()` returns nil otherwise, so tests skip.
public struct ServerLab: Sendable {
    /// A 0755 directory every case lives in; removed by ``cleanup()``.
    public let root: String
    /// The PostgreSQL binaries (the test server's, else the newest /usr/lib/postgresql/*/bin).
    public let binDirectory: String
    /// The initdb'd template data directory.
    public let template: String
    /// The server's OS user.
    public let user: OSUser

    static let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]

    /// A lab with its template, or nil when the tests cannot run the server here (not root, no
    /// PostgreSQL binaries, no `postgres` OS user).
    public static func make(binDirectory given: String? = nil) throws -> ServerLab? {
        guard getuid() == 0, let user = OSUser.lookup("postgres") else { return nil }
        let candidates = [given, TestServer.shared?.binDirectory, ProcessInfo.processInfo.environment["PGCONNECT_PG_BINDIR"]].compactMap { $0 }
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
                .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }) else { return nil }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-serverlab-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        // Every ancestor must be searchable by postgres (a mktemp -d TMPDIR is 0700).
        var ancestor = (root as NSString).deletingLastPathComponent
        while ancestor != "/" && !ancestor.isEmpty {
            var status = stat()
            if stat(ancestor, &status) == 0, status.st_mode & 0o001 == 0 { chmod(ancestor, status.st_mode & 0o7777 | 0o001) }
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        let template = root + "/template"
        try FileManager.default.createDirectory(atPath: template, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        chown(template, user.uid, user.gid)
        let result = try ProcessRunner.run(["/usr/sbin/runuser", "-u", "postgres", "--", "\(bin)/initdb", "-D", template, "-A", "trust",
                                            "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
                                           environment: environment, timeout: 120)
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: root)
            throw NSError(domain: "ServerLab", code: 1, userInfo: [NSLocalizedDescriptionKey: "initdb failed: \(result.stderr)"])
        }
        return ServerLab(root: root, binDirectory: bin, template: template, user: user)
    }

    /// The major version of the binaries (the template's PG_VERSION).
    public var majorVersion: Int {
        Int((try? String(contentsOfFile: template + "/PG_VERSION", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    /// A fresh copy of the template at ROOT/name.
    public func dataDirectory(_ name: String) throws -> String {
        let path = root + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        let result = try ProcessRunner.run(["/bin/cp", "-a", template, path], environment: Self.environment, timeout: 60)
        guard result.status == 0 else {
            throw NSError(domain: "ServerLab", code: 2, userInfo: [NSLocalizedDescriptionKey: "cp -a failed: \(result.stderr)"])
        }
        return path
    }

    /// Copies `source` to `directory/name`, owned by `owner` (default: postgres) with `mode`.
    @discardableResult
    public func install(_ source: String, in directory: String, as name: String, owner: uid_t? = nil, mode: mode_t = 0o644) throws -> String {
        let target = directory + "/" + name
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: source, toPath: target)
        chown(target, owner ?? user.uid, owner == 0 ? 0 : user.gid)
        chmod(target, mode)
        return target
    }

    /// Writes `text` to `directory/name` (owned by postgres, 0600 like initdb's files).
    public func write(_ text: String, in directory: String, as name: String) throws {
        let target = directory + "/" + name
        try text.write(toFile: target, atomically: false, encoding: .utf8)
        chown(target, user.uid, user.gid)
        chmod(target, 0o600)
    }

    /// Appends lines to a file of the data directory.
    public func append(_ lines: [String], to file: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// A TCP port nobody listens on now.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// What a start attempt gave: whether the server runs, and its log.
    public struct Start: Sendable {
        public var started: Bool
        public var log: String
        public var port: Int
    }

    /// `pg_ctl start -w` as postgres, detached from any terminal, on 127.0.0.1:`port` with the
    /// socket in the data directory; the log is DIR/server.log.
    public func start(_ directory: String, port: Int = ServerLab.freePort()) throws -> Start {
        let log = directory + "/server.log"
        try? FileManager.default.removeItem(atPath: log)
        let result = try ProcessRunner.run(["/usr/sbin/runuser", "-u", "postgres", "--", "/usr/bin/setsid", "\(binDirectory)/pg_ctl",
                                            "-D", directory, "-l", log, "-w", "-t", "30",
                                            "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1", "start"],
                                           environment: Self.environment, timeout: 60)
        return Start(started: result.status == 0, log: readLog(directory), port: port)
    }

    /// The server log so far.
    public func readLog(_ directory: String) -> String {
        (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
    }

    /// `pg_ctl reload`, then waits until the log has grown by a line containing `waitFor` (or 10 s);
    /// returns what the log gained.
    public func reload(_ directory: String, waitFor: String) throws -> String {
        let before = readLog(directory).count
        _ = try ProcessRunner.run(["/usr/sbin/runuser", "-u", "postgres", "--", "\(binDirectory)/pg_ctl", "-D", directory, "reload"],
                                  environment: Self.environment, timeout: 30)
        let deadline = Date().addingTimeInterval(10)
        var gained = ""
        while Date() < deadline {
            gained = String(readLog(directory).dropFirst(before))
            if gained.contains(waitFor) { break }
            usleep(50_000)
        }
        // Let the postmaster finish logging this reload.
        usleep(200_000)
        return String(readLog(directory).dropFirst(before))
    }

    /// `pg_ctl stop -m immediate` (no error when it is not running).
    public func stop(_ directory: String) {
        _ = try? ProcessRunner.run(["/usr/sbin/runuser", "-u", "postgres", "--", "\(binDirectory)/pg_ctl", "-D", directory, "-m", "immediate",
                                    "-w", "stop"], environment: Self.environment, timeout: 30)
    }

    /// `postgres -D DIR -C name [-c name=value …]`: the real server reads its configuration files
    /// (includes, postgresql.auto.conf, overrides), prints the value and exits without starting.
    public func show(_ directory: String, _ name: String, overrides: [String] = []) throws -> ProcessOutcome {
        try ProcessRunner.run(["/usr/sbin/runuser", "-u", "postgres", "--", "\(binDirectory)/postgres", "-D", directory, "-C", name]
                                + overrides.flatMap { ["-c", $0] }, environment: Self.environment, timeout: 30)
    }

    /// psql as the invoking user (a client), with `conninfo`, running `command`.
    public func psql(_ conninfo: String, _ command: String = "select 1") throws -> ProcessOutcome {
        try ProcessRunner.run(["\(binDirectory)/psql", "-X", "-A", "-t", "-d", conninfo, "-c", command],
                              environment: Self.environment, timeout: 30)
    }

    /// psql as superuser over the data directory's socket.
    public func admin(_ directory: String, port: Int, _ command: String) throws -> ProcessOutcome {
        try psql("host=\(directory) port=\(port) user=postgres dbname=postgres", command)
    }

    /// Removes every data directory (stop the servers first).
    public func cleanup() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
