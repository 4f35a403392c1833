import Foundation
import PGTestSupport
import XCTest

/// `--format openmetrics`: metrics for node_exporter's textfile collector, read by a real
/// OpenMetrics parser and a real Prometheus text-format parser.
final class OpenMetricsTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        self.server = server
    }

    func testOneTargetGivesParsableMetricsWithItsCertificateExpiry() throws {
        let run = try CLIRun.run([server.conninfo(), "--format", "openmetrics"], validatesSchema: false)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasSuffix("# EOF\n"))
        let (samples, types) = try MetricsText.parse(run.stdout, openMetrics: true)
        XCTAssertEqual(Set(types.values), ["gauge"])
        let target = "alice@\(server.host):\(server.port)/postgres"
        XCTAssertEqual(samples.value("pgconnect_probe_success", ["target": target]), 1)
        XCTAssertEqual(samples.named("pgconnect_probe_phase_duration_seconds").map { $0.labels["phase"] },
                       ["dns", "tcp", "tls", "authentication", "total"])
        XCTAssertEqual(samples.named("pgconnect_probe_tls_version_info").first?.labels["version"]?.hasPrefix("TLSv1."), true)
        let clientNotAfter = try XCTUnwrap(Self.notAfter("\(server.pki)/alice.crt"))
        XCTAssertEqual(samples.value("pgconnect_certificate_not_after_timestamp_seconds", ["certificate": "client"]), clientNotAfter)
        XCTAssertNotNil(samples.value("pgconnect_certificate_not_after_timestamp_seconds", ["certificate": "server"]))
        XCTAssertTrue(samples.named("pgconnect_probe_failure_info").isEmpty)
        // The Prometheus text format (what the textfile collector reads) takes the same text.
        XCTAssertEqual(try MetricsText.parse(run.stdout, openMetrics: false).samples.count, samples.count)
    }

    func testTargetsGiveOneFamilyPerMetricWithATargetLabelAndNoSecret() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("targets-\(UUID()).txt").path
        // The encrypted key's passphrase is in the conninfo: it must not reach a label.
        try """
            good: \(server.conninfo()) sslkey=\(server.pki)/alice.enc.key sslpassword=secret
            expired: \(server.conninfo(user: "old"))
            \(server.conninfo()) port=1
            """.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let run = try CLIRun.run(["--targets", file, "--format", "openmetrics"], validatesSchema: false)
        XCTAssertEqual(run.status, 2, "the worst: nothing listening on port 1")
        XCTAssertFalse(run.stdout.contains("secret") || run.stdout.contains("sslpassword"), run.stdout)
        let (samples, _) = try MetricsText.parse(run.stdout, openMetrics: true)
        XCTAssertEqual(run.stdout.components(separatedBy: "# TYPE pgconnect_probe_success ").count, 2, "one family, all targets")
        let unreachable = "alice@\(server.host):1/postgres"
        XCTAssertEqual(samples.named("pgconnect_probe_success").map { $0.labels["target"] ?? "" }, ["good", "expired", unreachable])
        XCTAssertEqual(samples.named("pgconnect_probe_success").map(\.value), [1, 0, 0])
        XCTAssertEqual(samples.named("pgconnect_probe_failure_info", ["target": "expired"]).first?.labels["code"], "client-cert-expired")
        XCTAssertEqual(samples.named("pgconnect_probe_failure_info", ["target": unreachable]).first?.labels["code"], "connection-refused")
        let expiredNotAfter = try XCTUnwrap(Self.notAfter("\(server.pki)/old.crt"))
        XCTAssertEqual(samples.value("pgconnect_certificate_not_after_timestamp_seconds", ["target": "expired", "certificate": "client"]),
                       expiredNotAfter, "known from the file although the login failed")
        XCTAssertLessThan(expiredNotAfter, Date().timeIntervalSince1970)
    }

    func testADuplicateTargetNameIsAUsageErrorNamingBothLines() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("targets-\(UUID()).txt").path
        try "db: host=a\n\ndb: host=b\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let run = try CLIRun.run(["--targets", file, "--format", "openmetrics"], validatesSchema: false)
        XCTAssertEqual(run.status, 64)
        XCTAssertTrue(run.stderr.contains("line 3") && run.stderr.contains("line 1"), run.stderr)
    }

    /// A certificate's notAfter as Unix time, read by openssl.
    static func notAfter(_ path: String) -> Double? {
        guard let outcome = try? ProcessRunner.run(["/usr/bin/openssl", "x509", "-in", path, "-noout", "-enddate", "-dateopt", "iso_8601"],
                                                   environment: [:], timeout: 10), outcome.status == 0 else { return nil }
        // notAfter=2029-03-04 05:06:07Z
        let text = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "notAfter=", with: "")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ssX"
        return formatter.date(from: text)?.timeIntervalSince1970
    }
}
