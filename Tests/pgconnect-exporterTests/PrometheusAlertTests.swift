import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PGTestSupport
import XCTest

/// The documented Prometheus scrape configuration and alerting rules (PGDiagnostics.docc/Monitoring.md,
/// which the README links), checked by Prometheus' own
/// tools (Debian's prometheus package: promtool and the server) — statically, with simulated
/// series, and live against the exporter and the real cert-auth server.
final class PrometheusAlertTests: XCTestCase {
    static let promtool = "/usr/bin/promtool"
    static let prometheus = "/usr/bin/prometheus"

    var directory: URL!

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.promtool), FileManager.default.isExecutableFile(atPath: Self.prometheus) else {
            throw XCTSkip("needs Debian's prometheus package (promtool, prometheus); scripts/setup.sh installs it")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("prometheus-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The article's `yaml` blocks: the scrape configuration and the rules.
    static func documentedBlocks() throws -> (config: String, rules: String) {
        let article = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/PGDiagnostics/PGDiagnostics.docc/Monitoring.md")
        let text = try String(contentsOf: article, encoding: .utf8)
        let blocks = text.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "\n```")[0] + "\n" }
        guard let config = blocks.first(where: { $0.contains("scrape_configs:") }), let rules = blocks.first(where: { $0.contains("groups:") }) else {
            throw XCTSkip("Monitoring.md has no Prometheus configuration and rules blocks")
        }
        return (config, rules)
    }

    func run(_ command: [String]) throws -> ProcessOutcome {
        try ProcessRunner.run(command, environment: ["PATH": "/usr/bin:/bin"], timeout: 60)
    }

    func testTheDocumentedConfigurationAndRulesPassPromtool() throws {
        let (config, rules) = try Self.documentedBlocks()
        try config.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        try rules.write(to: directory.appendingPathComponent("pgconnect-alerts.yml"), atomically: true, encoding: .utf8)
        let checked = try run([Self.promtool, "check", "config", directory.appendingPathComponent("prometheus.yml").path])
        XCTAssertEqual(checked.status, 0, checked.stdout + checked.stderr)

        // Simulated series as the exporter gives them: "orders" fails with an expired client
        // certificate that expires 10 days after the test's time 0; "billing" works, 100 days left.
        let test = """
            rule_files: [pgconnect-alerts.yml]
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: 'pgconnect_probe_success{job="pgconnect",instance="orders"}'
                    values: '0x30'
                  - series: 'pgconnect_probe_failure_info{job="pgconnect",instance="orders",outcome="unreachable",layer="client-files",code="client-cert-expired"}'
                    values: '1x30'
                  - series: 'pgconnect_certificate_not_after_timestamp_seconds{job="pgconnect",instance="orders",certificate="client"}'
                    values: '864000x30'
                  - series: 'pgconnect_probe_success{job="pgconnect",instance="billing"}'
                    values: '1x30'
                  - series: 'pgconnect_certificate_not_after_timestamp_seconds{job="pgconnect",instance="billing",certificate="client"}'
                    values: '8640000x30'
                  - series: 'up{job="pgconnect",instance="orders"}'
                    values: '1x30'
                  - series: 'up{job="pgconnect",instance="billing"}'
                    values: '1x30'
                alert_rule_test:
                  - eval_time: 4m
                    alertname: PostgresCertificateLoginFails
                    exp_alerts: []
                  - eval_time: 6m
                    alertname: PostgresCertificateLoginFails
                    exp_alerts:
                      - exp_labels: {severity: critical, job: pgconnect, instance: orders, code: client-cert-expired, layer: client-files}
                        exp_annotations:
                          summary: "Certificate login to orders fails: client-cert-expired (client-files)"
                          description: "pgconnect-check with the same conninfo explains client-cert-expired and gives the fix."
                  - eval_time: 20m
                    alertname: PostgresCertificateExpiresSoon
                    exp_alerts:
                      - exp_labels: {severity: warning, job: pgconnect, instance: orders, certificate: client}
                        exp_annotations:
                          summary: "The client certificate of orders expires within 14 days"
                          description: "Renew it before certificate logins fail: pgconnect-check --targets FILE shows which file."
                  - eval_time: 20m
                    alertname: PgconnectProbeFails
                    exp_alerts: []
            """
        try test.write(to: directory.appendingPathComponent("test.yml"), atomically: true, encoding: .utf8)
        let tested = try run([Self.promtool, "test", "rules", directory.appendingPathComponent("test.yml").path])
        XCTAssertEqual(tested.status, 0, tested.stdout + tested.stderr)
    }

    func testARealPrometheusWithTheDocumentedRulesAlertsOnTheExpiredAndTheUnreachableTarget() async throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let targets = directory.appendingPathComponent("targets").path
        try """
            good: \(server.conninfo())
            expired: \(server.conninfo(user: "old"))
            unreachable: \(server.conninfo()) port=1
            """.write(toFile: targets, atomically: true, encoding: .utf8)
        let exporter = try ExporterProcess(["--targets", targets, "--min-interval", "0"])
        defer { _ = exporter.stop() }
        let exporterAddress = "\(exporter.base.host ?? "127.0.0.1"):\(exporter.base.port ?? 0)"

        // The documented files with this test's addresses and targets, 1-second intervals and no `for` delay.
        let (documentedConfig, documentedRules) = try Self.documentedBlocks()
        let config = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + documentedConfig
            .replacingOccurrences(of: "127.0.0.1:9958", with: exporterAddress)
            .replacingOccurrences(of: "[orders, billing]", with: "[good, expired, unreachable]")
            .replacingOccurrences(of: "scrape_interval: 60s", with: "scrape_interval: 1s")
            .replacingOccurrences(of: "scrape_timeout: 30s", with: "scrape_timeout: 1s")
        let rules = documentedRules.replacingOccurrences(of: #"for: \d+m"#, with: "for: 0s", options: .regularExpression)
        XCTAssertNotEqual(config, documentedConfig)
        try config.write(to: directory.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        try rules.write(to: directory.appendingPathComponent("pgconnect-alerts.yml"), atomically: true, encoding: .utf8)

        let port = try Self.freePort()
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: Self.prometheus)
        prometheus.arguments = ["--config.file=\(directory.appendingPathComponent("prometheus.yml").path)",
                                "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
                                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
        let log = directory.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        prometheus.standardOutput = try FileHandle(forWritingTo: log)
        prometheus.standardError = prometheus.standardOutput
        prometheus.standardInput = FileHandle.nullDevice
        try prometheus.run()
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }

        // Poll the alerts API (at most 60 s) until both failing targets alert.
        let api = URL(string: "http://127.0.0.1:\(port)/api/v1/alerts")!
        var firing: Set<String> = []
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(500))
            guard let (data, _) = try? await URLSession.shared.data(from: api),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let alerts = (json["data"] as? [String: Any])?["alerts"] as? [[String: Any]] else { continue }
            firing = Set(alerts.compactMap { alert -> String? in
                guard alert["state"] as? String == "firing", let labels = alert["labels"] as? [String: String] else { return nil }
                return [labels["alertname"], labels["instance"], labels["code"] ?? labels["certificate"]].compactMap { $0 }.joined(separator: " ")
            })
            if firing.isSuperset(of: Self.expected) { break }
        }
        let logText = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(firing.isSuperset(of: Self.expected), "firing: \(firing.sorted())\n\(logText)")
        XCTAssertEqual(firing.filter { $0.contains(" good") }, [], "a good login raises no alert")
        XCTAssertEqual(firing.filter { $0.hasPrefix("PgconnectProbeFails") }, [], "every scrape of the exporter worked")
    }

    static let expected: Set<String> = [
        "PostgresCertificateLoginFails expired client-cert-expired",
        "PostgresCertificateLoginFails unreachable connection-refused",
        "PostgresCertificateExpiresSoon expired client",
    ]

    /// A port on 127.0.0.1 that was free a moment ago.
    static func freePort() throws -> Int {
        let listener = try SilentListener()
        return listener.port
    }
}
