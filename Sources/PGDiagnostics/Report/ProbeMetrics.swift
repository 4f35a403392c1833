/// A check's result as Prometheus metrics: what `pgconnect-check --format openmetrics` prints and
/// what `pgconnect-exporter` answers on `/probe`, with the same names.
///
/// Every family is a gauge (so the text is valid for both OpenMetrics and node_exporter's
/// textfile collector, which reads the Prometheus text format). Names follow Prometheus
/// conventions: base units, `_seconds`, `_timestamp_seconds`, `_info` for a constant 1 that
/// carries labels. No label ever holds a secret: labels are codes, phase names, the TLS
/// version and the target's name.
///
/// | name | labels | value |
/// |---|---|---|
/// | `pgconnect_probe_success` | | 1 when the login worked, else 0 |
/// | `pgconnect_probe_duration_seconds` | | how long the whole check took |
/// | `pgconnect_probe_failure_info` | `outcome`, `layer`, `code` | 1: why the login failed (the diagnosis code) |
/// | `pgconnect_probe_warning_info` | `code` | 1 per warning of a login that works |
/// | `pgconnect_probe_phase_duration_seconds` | `phase` | libpq's connect phases: `dns`, `tcp`, `tls`, `authentication`, `total` |
/// | `pgconnect_probe_tls_version_info` | `version` | 1: the negotiated TLS version |
/// | `pgconnect_certificate_not_after_timestamp_seconds` | `certificate` (`client`, `server`) | when the certificate expires, Unix time |
public enum ProbeMetrics {
    /// The metric names.
    public enum Name {
        public static let success = "pgconnect_probe_success"
        public static let duration = "pgconnect_probe_duration_seconds"
        public static let failure = "pgconnect_probe_failure_info"
        public static let warning = "pgconnect_probe_warning_info"
        public static let phaseDuration = "pgconnect_probe_phase_duration_seconds"
        public static let tlsVersion = "pgconnect_probe_tls_version_info"
        /// The same name the library's metrics use (`PGConnectMetrics`).
        public static let certificateNotAfter = "pgconnect_certificate_not_after_timestamp_seconds"
    }

    /// One gauge family: its name, its help text and its samples.
    public struct Family: Sendable, Hashable {
        public var name: String
        public var help: String
        public var samples: [Sample]
        public init(name: String, help: String, samples: [Sample]) {
            self.name = name
            self.help = help
            self.samples = samples
        }
    }

    /// One sample: labels (in order) and a value.
    public struct Sample: Sendable, Hashable {
        public var labels: [Label]
        public var value: Double
        public init(labels: [Label] = [], value: Double) {
            self.labels = labels
            self.value = value
        }
    }

    /// A label name and value.
    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    static let help: [String: String] = [
        Name.success: "Whether the certificate login worked (1) or not (0).",
        Name.duration: "How long the whole check took, in seconds.",
        Name.failure: "Why the login failed: the diagnosis code, its layer and the outcome (always 1).",
        Name.warning: "A risk in a login that works, by warning code (always 1).",
        Name.phaseDuration: "How long each phase of libpq's connection took, in seconds.",
        Name.tlsVersion: "The negotiated TLS protocol version (always 1).",
        Name.certificateNotAfter: "When the certificate expires, in seconds since the Unix epoch.",
    ]

    /// The families of one check, each sample labelled with `labels` first (e.g. the target).
    /// Families without samples are left out, except `pgconnect_probe_success` and the duration.
    public static func families(_ report: Report, duration: Duration, labels: [Label] = []) -> [Family] {
        func family(_ name: String, _ samples: [Sample]) -> Family {
            Family(name: name, help: help[name] ?? "", samples: samples.map { Sample(labels: labels + $0.labels, value: $0.value) })
        }
        var families = [
            family(Name.success, [Sample(value: report.ok ? 1 : 0)]),
            family(Name.duration, [Sample(value: microseconds(duration.seconds))]),
        ]
        if let diagnosis = report.diagnosis {
            families.append(family(Name.failure, [Sample(labels: [Label("outcome", report.outcome.rawValue), Label("layer", diagnosis.layer.rawValue),
                                                                  Label("code", diagnosis.code.rawValue)], value: 1)]))
        }
        let warnings = Set(report.warnings.map(\.code.rawValue)).sorted()
        if !warnings.isEmpty {
            families.append(family(Name.warning, warnings.map { Sample(labels: [Label("code", $0)], value: 1) }))
        }
        if !report.timingsMilliseconds.isEmpty {
            families.append(family(Name.phaseDuration, report.timingsMilliseconds.map {
                Sample(labels: [Label("phase", $0.phase)], value: microseconds($0.milliseconds / 1000))
            }))
        }
        if let version = report.tls?.protocolVersion {
            families.append(family(Name.tlsVersion, [Sample(labels: [Label("version", version)], value: 1)]))
        }
        var expiry: [Sample] = []
        if let client = report.certificateExpiry.client {
            expiry.append(Sample(labels: [Label("certificate", "client")], value: client.timeIntervalSince1970))
        }
        if let server = report.certificateExpiry.server {
            expiry.append(Sample(labels: [Label("certificate", "server")], value: server.timeIntervalSince1970))
        }
        if !expiry.isEmpty { families.append(family(Name.certificateNotAfter, expiry)) }
        return families
    }

    /// Seconds rounded to the microsecond (libpq's phases are not timed finer; the text stays short).
    static func microseconds(_ seconds: Double) -> Double { (seconds * 1e6).rounded() / 1e6 }

    /// The families of several checks merged: one family per name, in the order first seen.
    public static func merge(_ lists: [[Family]]) -> [Family] {
        var merged: [Family] = []
        var index: [String: Int] = [:]
        for family in lists.joined() {
            if let at = index[family.name] {
                merged[at].samples += family.samples
            } else {
                index[family.name] = merged.count
                merged.append(family)
            }
        }
        return merged
    }
}

extension Duration {
    /// This duration in seconds, as a Double.
    var seconds: Double { milliseconds / 1000 }
}
