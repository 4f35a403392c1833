import Foundation
import PGTestSupport
import XCTest

/// `pgconnect-exporter` as Prometheus uses it: a real process on loopback, scraped over HTTP,
/// probing the real cert-auth server. The scraped text is read by a real Prometheus text-format
/// parser (python3-prometheus-client).
final class ExporterTests: XCTestCase {
    var server: TestServer!
    var targetsFile: String!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        self.server = server
        targetsFile = FileManager.default.temporaryDirectory.appendingPathComponent("exporter-targets-\(UUID()).txt").path
        // "good" uses the encrypted key with its passphrase in the conninfo: it must not reach a page.
        try """
            # a good login, an expired client certificate, nothing listening
            good: \(server.conninfo()) sslkey=\(server.pki)/alice.enc.key sslpassword=secret
            expired: \(server.conninfo(user: "old"))
            unreachable: \(server.conninfo()) port=1
            """.write(toFile: targetsFile, atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: targetsFile)
    }

    func testProbesOfAGoodAnExpiredAndAnUnreachableTarget() async throws {
        let exporter = try ExporterProcess(["--targets", targetsFile])
        defer { _ = exporter.stop() }

        let good = try await exporter.get("/probe?target=good")
        XCTAssertEqual(good.status, 200)
        XCTAssertEqual(good.contentType?.hasPrefix("text/plain; version=0.0.4"), true)
        let goodSamples = try MetricsText.parse(good.body, openMetrics: false).samples
        XCTAssertEqual(goodSamples.value("pgconnect_probe_success"), 1)
        XCTAssertTrue(goodSamples.named("pgconnect_probe_failure_info").isEmpty)
        XCTAssertEqual(Set(goodSamples.named("pgconnect_probe_phase_duration_seconds").compactMap { $0.labels["phase"] }),
                       ["dns", "tcp", "tls", "authentication", "total"])
        XCTAssertEqual(goodSamples.named("pgconnect_probe_tls_version_info").first?.labels["version"]?.hasPrefix("TLSv1."), true)
        let clientNotAfter = try XCTUnwrap(goodSamples.value("pgconnect_certificate_not_after_timestamp_seconds", ["certificate": "client"]))
        XCTAssertGreaterThan(clientNotAfter, Date().timeIntervalSince1970, "alice's certificate is valid")
        XCTAssertNotNil(goodSamples.value("pgconnect_certificate_not_after_timestamp_seconds", ["certificate": "server"]))
        XCTAssertNil(goodSamples.first { $0.labels["target"] != nil }, "Prometheus sets instance; the exporter adds no target label")

        let expired = try MetricsText.parse(try await exporter.get("/probe?target=expired").body, openMetrics: false).samples
        XCTAssertEqual(expired.value("pgconnect_probe_success"), 0)
        XCTAssertEqual(expired.named("pgconnect_probe_failure_info").first?.labels["code"], "client-cert-expired")
        let expiredNotAfter = try XCTUnwrap(expired.value("pgconnect_certificate_not_after_timestamp_seconds", ["certificate": "client"]))
        XCTAssertLessThan(expiredNotAfter, Date().timeIntervalSince1970, "the alert's expression sees a past date")

        let unreachable = try MetricsText.parse(try await exporter.get("/probe?target=unreachable").body, openMetrics: false).samples
        XCTAssertEqual(unreachable.value("pgconnect_probe_success"), 0)
        XCTAssertEqual(unreachable.named("pgconnect_probe_failure_info").first?.labels,
                       ["outcome": "unreachable", "layer": "network", "code": "connection-refused"])
        XCTAssertNil(unreachable.value("pgconnect_certificate_not_after_timestamp_seconds", ["certificate": "server"]),
                     "no server certificate was seen")

        // The exporter's own metrics: three probes, one failure each for two targets.
        let own = try MetricsText.parse(try await exporter.get("/metrics").body, openMetrics: false).samples
        XCTAssertEqual(own.value("pgconnect_exporter_probes_total", ["success": "true"]), 1)
        XCTAssertEqual(own.value("pgconnect_exporter_probes_total", ["success": "false"]), 2)

        XCTAssertEqual(exporter.stop(), 0, "SIGTERM is a graceful shutdown: exit status 0")
    }

    func testTheExporterAndPgconnectCheckUseTheSameMetricNames() async throws {
        let exporter = try ExporterProcess(["--targets", targetsFile])
        defer { _ = exporter.stop() }
        var exported: Set<String> = []
        for target in ["good", "expired", "unreachable"] {
            let body = try await exporter.get("/probe?target=\(target)").body
            exported.formUnion(try MetricsText.parse(body, openMetrics: false).samples.map(\.name))
        }
        let check = try ProcessRunner.run([ExporterProcess.binary("pgconnect-check").path, "--targets", targetsFile, "--format", "openmetrics"],
                                          environment: [:], timeout: 60)
        let checked = Set(try MetricsText.parse(check.stdout, openMetrics: true).samples.map(\.name))
        XCTAssertEqual(exported, checked)
        XCTAssertTrue(exported.isSuperset(of: ["pgconnect_probe_success", "pgconnect_probe_failure_info",
                                               "pgconnect_certificate_not_after_timestamp_seconds"]))
    }

    func testNoPageShowsASecretOrAnUnknownTarget() async throws {
        let exporter = try ExporterProcess(["--targets", targetsFile])
        defer { _ = exporter.stop() }
        let index = try await exporter.get("/")
        XCTAssertEqual(index.status, 200)
        XCTAssertTrue(index.body.contains("good") && index.body.contains("expired"), index.body)
        let unknown = try await exporter.get("/probe?target=elsewhere")
        XCTAssertEqual(unknown.status, 404)
        let missing = try await exporter.get("/probe")
        XCTAssertEqual(missing.status, 400)
        let pages = [index.body, unknown.body, missing.body, try await exporter.get("/probe?target=good").body,
                     try await exporter.get("/metrics").body]
        for page in pages {
            for secret in ["secret", "sslpassword", "sslkey", "alice.enc.key", "host="] {
                XCTAssertFalse(page.contains(secret), "\(secret) in:\n\(page)")
            }
        }
        let own = try MetricsText.parse(pages[4], openMetrics: false).samples
        XCTAssertEqual(own.value("pgconnect_exporter_unknown_target_requests_total"), 1)
        XCTAssertNil(own.value("pgconnect_exporter_probes_total", ["success": "false"]), "an unknown name connects nowhere")
    }

    func testATargetProbedWithinTheMinimumIntervalGetsTheLastResult() async throws {
        let exporter = try ExporterProcess(["--targets", targetsFile, "--min-interval", "60"])
        defer { _ = exporter.stop() }
        let first = try await exporter.get("/probe?target=good").body
        async let second = exporter.get("/probe?target=good")
        async let third = exporter.get("/probe?target=good")
        let (secondBody, thirdBody) = try await (second.body, third.body)
        let duration = { (text: String) in try MetricsText.parse(text, openMetrics: false).samples.value("pgconnect_probe_duration_seconds") }
        XCTAssertEqual(try duration(secondBody), try duration(first), "the same probe, not a new one")
        XCTAssertEqual(try duration(thirdBody), try duration(first))
        let own = try MetricsText.parse(try await exporter.get("/metrics").body, openMetrics: false).samples
        XCTAssertEqual(own.value("pgconnect_exporter_probes_total", ["success": "true"]), 1, "one login for three scrapes")
        XCTAssertEqual(own.value("pgconnect_exporter_probe_requests_total", ["source": "recent"]), 2)
    }

    func testServicesOfTheServiceFileAreProbedByNameWhenAllowed() async throws {
        let serviceFile = FileManager.default.temporaryDirectory.appendingPathComponent("pg_service-\(UUID()).conf").path
        let entry = "[orders]\n" + server.options().pairs.map { "\($0.keyword)=\($0.value)" }.joined(separator: "\n") + "\n"
        try entry.write(toFile: serviceFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: serviceFile) }
        let exporter = try ExporterProcess(["--allow-services"], environment: ["PGSERVICEFILE": serviceFile])
        defer { _ = exporter.stop() }
        let orders = try await exporter.get("/probe?target=orders")
        XCTAssertEqual(orders.status, 200, orders.body)
        XCTAssertEqual(try MetricsText.parse(orders.body, openMetrics: false).samples.value("pgconnect_probe_success"), 1)
        for name in ["billing", "host=127.0.0.1", "../orders"] {
            let other = try await exporter.get("/probe?target=\(name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name)")
            XCTAssertEqual(other.status, 404, "\(name): not a service of the file")
        }
        let own = try MetricsText.parse(try await exporter.get("/metrics").body, openMetrics: false).samples
        XCTAssertEqual(own.value("pgconnect_exporter_probes_total", ["success": "true"]), 1, "only the known service was probed")
        XCTAssertNil(own.value("pgconnect_exporter_probes_total", ["success": "false"]))
    }

    func testBadArgumentsAreAUsageError() throws {
        let none = try ProcessRunner.run([ExporterProcess.binary("pgconnect-exporter").path], environment: [:], timeout: 30)
        XCTAssertEqual(none.status, 64)
        XCTAssertTrue(none.stderr.contains("--targets"), none.stderr)
        let missing = try ProcessRunner.run([ExporterProcess.binary("pgconnect-exporter").path, "--targets", "/nonexistent/targets"],
                                            environment: [:], timeout: 30)
        XCTAssertEqual(missing.status, 64)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/targets"), missing.stderr)
    }
}
