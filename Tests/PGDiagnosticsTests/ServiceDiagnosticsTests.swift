import Foundation
import Logging
import PGConnect
import PGTestSupport
import XCTest
@testable import PGDiagnostics

/// The expiry watcher and the readiness check, with real certificates.
final class ServiceDiagnosticsTests: XCTestCase {
    func testExpiryWatcherWarnsAheadAndErrsWhenExpired() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the fixtures from scripts/test.sh") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("expiry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let soon = try CertificateFactory.issue(commonName: "alice", name: "soon", days: 2, caCertificate: "\(server.pki)/root.crt",
                                                caKey: "\(server.pki)/root.key", directory: directory)
        let recorder = LogRecorder()
        let logger = Logger(label: "test") { _ in recorder }
        guard case .expiringSoon(_, let days) = CertificateExpiryWatcher(path: soon.certificate, warningDays: 14, logger: logger).check() else {
            return XCTFail("a certificate valid for 2 days is expiring soon")
        }
        XCTAssertLessThanOrEqual(days, 2)
        XCTAssertEqual(recorder.levels, [.warning])

        guard case .expired = CertificateExpiryWatcher(path: "\(server.pki)/old.crt", logger: logger).check() else {
            return XCTFail("the fixture old.crt has expired")
        }
        XCTAssertEqual(recorder.levels, [.warning, .error])
        guard case .valid = CertificateExpiryWatcher(path: "\(server.pki)/alice.crt", logger: logger).check() else {
            return XCTFail("alice.crt is valid for 825 days")
        }
        guard case .unreadable = CertificateExpiryWatcher(path: directory.path, logger: logger).check() else {
            return XCTFail("a directory is no certificate")
        }
    }

    func testReadinessReturnsTheCLIReport() async throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let ready = await PGDiagnostics.check(server.options())
        XCTAssertTrue(ready.ok)
        XCTAssertEqual(ready.exitStatus, 0)
        let refused = await PGDiagnostics.check(server.options(user: "bob", certificate: "alice"))
        XCTAssertEqual(refused.diagnosis?.code, .certNameMismatch)
    }
}

/// Collects log levels (a swift-log handler for tests). `@unchecked Sendable`: guarded by `lock`.
final class LogRecorder: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Logger.Level] = []
    var levels: [Logger.Level] { lock.withLock { recorded } }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        guard event.level >= .warning else { return }
        lock.withLock { recorded.append(event.level) }
    }
}

/// The inspection cache of `--targets` runs: shared for the same files, redone for changed ones.
final class ClientFilesCacheTests: XCTestCase {
    func testSameFilesAreInspectedOnceAndAChangedFileAgain() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the fixtures from scripts/test.sh") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("files-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("alice.key").path
        try FileManager.default.copyItem(atPath: "\(server.pki)/alice.key", toPath: key)
        XCTAssertEqual(chmod(key, 0o600), 0)
        var options = server.options()
        options.sslkey = key

        let cache = ClientFilesCache()
        let inspector = ClientFilesInspector()
        let first = cache.inspect(ResolvedTarget(options), with: inspector)
        XCTAssertNil(first.diagnosis)
        let again = cache.inspect(ResolvedTarget(options), with: inspector)
        XCTAssertEqual(again.checks, first.checks)

        // The key becomes world-readable during the run: libpq would now refuse it.
        XCTAssertEqual(chmod(key, 0o644), 0)
        let changed = cache.inspect(ResolvedTarget(options), with: inspector)
        XCTAssertEqual(changed.diagnosis?.code, .keyPermissions)
        XCTAssertEqual(changed.checks, inspector.inspect(options).checks, "the same as without a cache")
    }
}
