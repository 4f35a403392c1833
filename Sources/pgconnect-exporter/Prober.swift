import Hummingbird
import Metrics
import PGConnect
import PGDiagnostics
import Prometheus

/// The exporter's answers: `/probe` runs (or reuses) a check through the scheduler and renders
/// its ``ProbeMetrics`` with swift-prometheus; nothing secret reaches a page (no conninfo).
struct Prober: Sendable {
    let targets: ExporterTargets
    let checker: LoginChecker
    let scheduler: ProbeScheduler<Probe>

    /// One check's result.
    struct Probe: Sendable {
        var report: Report
        var duration: Duration
    }

    func index() -> Response {
        var text = "pgconnect-exporter\n\nGET /probe?target=NAME   check one target, as Prometheus metrics\nGET /metrics             the exporter's own metrics\n"
        text += targets.names.isEmpty ? "\nNo targets file" : "\nTargets:\n" + targets.names.map { "  \($0)\n" }.joined()
        if targets.allowServices { text += "\nServices of libpq's service file are probed by name too.\n" }
        return Self.text(text)
    }

    func respond(to name: String?) async -> Response {
        guard let name, !name.isEmpty else {
            return Self.text("give the target to probe: /probe?target=NAME\n", status: .badRequest)
        }
        guard let options = targets.options(for: name) else {
            Counter(label: "pgconnect_exporter_unknown_target_requests_total").increment()
            let services = targets.allowServices ? " nor a service of libpq's service file" : ""
            return Self.text("no target called \"\(name)\" in the targets file\(services); GET / lists them\n", status: .notFound)
        }
        let checker = self.checker
        let (probe, source) = await scheduler.probe(name) {
            let started = ContinuousClock.now
            let report = await checker.check(options)
            let probe = Probe(report: report, duration: .now - started)
            Counter(label: "pgconnect_exporter_probes_total", dimensions: [("success", report.ok ? "true" : "false")]).increment()
            Timer(label: "pgconnect_exporter_probe_duration_seconds").record(duration: probe.duration)
            return probe
        }
        Counter(label: "pgconnect_exporter_probe_requests_total", dimensions: [("source", "\(source)")]).increment()
        return Self.text(Self.render(ProbeMetrics.families(probe.report, duration: probe.duration)))
    }

    /// The families in the Prometheus text format, through swift-prometheus (a registry per probe).
    static func render(_ families: [ProbeMetrics.Family]) -> String {
        let registry = PrometheusCollectorRegistry()
        for family in families {
            for sample in family.samples {
                let descriptor = MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
                let gauge = sample.labels.isEmpty
                    ? registry.makeGauge(descriptor: descriptor)
                    : registry.makeGauge(descriptor: descriptor, labels: sample.labels.map { ($0.name, $0.value) })
                gauge.set(sample.value)
            }
        }
        return registry.emitToString()
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
