import Foundation

/// What one bounded run of a command gave.
public struct ProcessOutcome: Sendable {
    /// The exit status; 128 + the signal number when a signal ended it.
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The deadline passed and the command's process group was killed.
    public var timedOut: Bool

    public init(status: Int32, stdout: String, stderr: String, timedOut: Bool) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }
}

/// Runs a command with a deadline, for tests that start many processes at once.
///
/// posix_spawn, not Foundation's Process: output goes to files (no pipe to drain, no reader
/// thread), the child gets its own process group so a timeout ends everything it started, and
/// it starts in "/", a directory every OS user can search.
public enum ProcessRunner {
    /// Runs `command` (an absolute path first) with exactly `environment` and no stdin (or
    /// `stdin`'s text); after `timeout` seconds sends SIGTERM to its process group, and SIGKILL 2 s later.
    public static func run(_ command: [String], environment: [String: String], timeout: Double,
                           stdin: String? = nil) throws -> ProcessOutcome {
        precondition(!command.isEmpty && command[0].hasPrefix("/"), "an absolute executable path")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("stdout").path
        let errPath = directory.appendingPathComponent("stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var inPath = "/dev/null"
        if let stdin {
            inPath = directory.appendingPathComponent("stdin").path
            try Data(stdin.utf8).write(to: URL(fileURLWithPath: inPath))
        }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        // Started in "/" by env -C (Swift's Glibc does not expose posix_spawn_file_actions_addchdir_np).
        let argv = (["/usr/bin/env", "-C", "/"] + command).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw NSError(domain: "ProcessRunner", code: Int(spawned),
                          userInfo: [NSLocalizedDescriptionKey: "could not start \(command[0]): \(String(cString: strerror(spawned)))"])
        }

        var status: Int32 = 0
        var timedOut = false
        let deadline = Date().addingTimeInterval(timeout)
        var killAt: Date?
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { break }
            if done < 0, errno != EINTR { break }
            let now = Date()
            if killAt == nil, now > deadline {
                timedOut = true
                kill(-pid, SIGTERM)
                killAt = now.addingTimeInterval(2)
            } else if let killTime = killAt, now > killTime {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                break
            }
            usleep(5_000)
        }
        let signal = status & 0x7f
        let exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return ProcessOutcome(status: exitStatus, stdout: readFile(outPath), stderr: readFile(errPath), timedOut: timedOut)
    }

    /// A file's bytes as UTF-8 text, read with open/read: FoundationEssentials'
    /// `FileManager.contents(atPath:)` leaves its read buffers to LeakSanitizer as leaked (107 per
    /// LibpqVerdictTests run under scripts/check-all.sh).
    static func readFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// An OS user other than root, for tests that check what a normal user's run does.
public struct OSUser: Sendable, Equatable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t
    /// The home directory in the passwd entry.
    public let passwdHome: String

    /// The user `name` from the passwd database, or nil.
    public static func lookup(_ name: String) -> OSUser? {
        guard let entry = getpwnam(name) else { return nil }
        return OSUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid,
                      passwdHome: String(cString: entry.pointee.pw_dir))
    }

    /// The OS user `name`, created first when missing (as root: a system user without a home
    /// directory, its passwd home `/nonexistent`). Idempotent; scripts/setup.sh does the same.
    public static func ensure(_ name: String) throws -> OSUser {
        if let user = lookup(name) { return user }
        guard getuid() == 0 else {
            throw NSError(domain: "OSUser", code: 1, userInfo: [NSLocalizedDescriptionKey: "no OS user \(name), and only root can create it"])
        }
        let result = try ProcessRunner.run(["/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                            "--shell", "/usr/sbin/nologin", name],
                                           environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 30)
        // Another process may have created it meanwhile (useradd exits 9): the lookup decides.
        guard let user = lookup(name) else {
            throw NSError(domain: "OSUser", code: 2, userInfo: [NSLocalizedDescriptionKey: "useradd \(name) failed: \(result.stderr)"])
        }
        return user
    }

    /// Gives `path` and everything under it to this user (`chown -R`, mode bits unchanged).
    public func own(_ path: String) throws {
        let result = try ProcessRunner.run(["/bin/chown", "-R", "\(uid):\(gid)", path], environment: [:], timeout: 60)
        guard result.status == 0 else {
            throw NSError(domain: "OSUser", code: 3, userInfo: [NSLocalizedDescriptionKey: "chown -R \(name) \(path): \(result.stderr)"])
        }
    }
}
