import Foundation
import PGConnect

extension TestServer {
    /// The certificates from scripts/make-test-fixtures.sh (see the top of that script).
    public var fixtures: String {
        ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] ?? (pki as NSString).deletingLastPathComponent
    }

    /// Runs `body` with the server reconfigured (`ALTER SYSTEM SET` + `pg_reload_conf()`), then
    /// restores it (`ALTER SYSTEM RESET ALL` + reload), even when `body` throws.
    ///
    /// A reload is asynchronous: this waits until a new session sees every new value. Files named
    /// in TLS settings must be readable by the server's OS user (keys owned by it, 0600).
    @discardableResult
    public func withSettings<T>(_ settings: [String: String], _ body: () async throws -> T) async throws -> T {
        try await apply(settings)
        do {
            let result = try await body()
            try await resetSettings()
            return result
        } catch {
            try? await resetSettings()
            throw error
        }
    }

    /// `ALTER SYSTEM RESET ALL` and reload, waiting until the defaults are back in effect.
    public func resetSettings() async throws {
        try await apply([:], reset: true)
    }

    private func apply(_ settings: [String: String], reset: Bool = false) async throws {
        let admin = try await Connection.connect(self.admin, timeout: .seconds(10))
        var expected: [String: String] = [:]
        if reset {
            _ = try await admin.query("ALTER SYSTEM RESET ALL")
            expected = ["ssl": "on", "ssl_cert_file": "server.crt", "ssl_crl_file": "", "ssl_min_protocol_version": "TLSv1.2"]
        }
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            let literal = "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
            _ = try await admin.query("ALTER SYSTEM SET \(name) = \(literal)")
            expected[name] = value
        }
        _ = try await admin.query("SELECT pg_reload_conf()")
        await admin.close()

        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let probe = try await Connection.connect(self.admin, timeout: .seconds(10))
            var applied = true
            for (name, value) in expected {
                let current = try await probe.query("SELECT current_setting($1)", [name])[0][0].string ?? ""
                if current != value && !current.hasSuffix("/" + value) { applied = false }
            }
            await probe.close()
            if applied {
                // The postmaster has read the file; give it a moment to swap the TLS context.
                try await Task.sleep(for: .milliseconds(50))
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NSError(domain: "TestServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "the server did not apply \(expected)"])
    }
}

extension TestServer {
    /// Stops the server at once (`pg_ctl stop -m immediate`), as a crash or a failover would.
    public func stopImmediately() throws {
        try pgctl(["-D", try dataPath(), "-m", "immediate", "-w", "stop"])
    }

    /// Starts the stopped server again (same data directory, port and socket directory).
    public func start() throws {
        let data = try dataPath()
        try pgctl(["-D", data, "-l", (data as NSString).deletingLastPathComponent + "/server.log", "-w", "-t", "30", "start"])
    }

    private func dataPath() throws -> String {
        guard let dataDirectory else { throw NSError(domain: "TestServer", code: 2, userInfo: [NSLocalizedDescriptionKey: "no data directory"]) }
        return dataDirectory
    }

    private func pgctl(_ arguments: [String]) throws {
        // This server's own binaries first: pg_ctl of another major version refuses its data directory.
        let bindir = binDirectory ?? ProcessInfo.processInfo.environment["PGCONNECT_PG_BINDIR"] ?? "/usr/lib/postgresql/15/bin"
        let pgctl = (libraryPath.map { ["/usr/bin/env", "LD_LIBRARY_PATH=\($0)"] } ?? []) + ["\(bindir)/pg_ctl"]
        // From "/", which the server's OS user can always read.
        let command = ["/bin/sh", "-c", "cd / && exec \"$0\" \"$@\""]
            + (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + pgctl : pgctl) + arguments
        // posix_spawn, not Foundation's Process: `pg_ctl start` leaves a daemon behind that would
        // inherit Process's exit-notification descriptor and make waitUntilExit wait forever.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        #if os(Linux)
        // Nor may the server keep any other descriptor of this process: under ThreadSanitizer the
        // pipes to its llvm-symbolizer and to `swift test` stayed open in the restarted server,
        // and `swift test` waited for them to close until check-all's timeout. (glibc 2.34+;
        // Swift's Glibc module does not declare it.)
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let closeFrom = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        }
        #endif
        var pid: pid_t = 0
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, command[0], &actions, nil, argv, environ) == 0 else {
            throw NSError(domain: "TestServer", code: 3, userInfo: [NSLocalizedDescriptionKey: "could not run pg_ctl"])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        guard status == 0 else {
            throw NSError(domain: "TestServer", code: Int(status), userInfo: [NSLocalizedDescriptionKey: "pg_ctl \(arguments.last ?? "") failed"])
        }
    }
}
