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
