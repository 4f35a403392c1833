import Foundation

/// Prometheus metric text read by a real parser: the Python `prometheus_client` package's
/// (Debian's python3-prometheus-client, installed by scripts/setup.sh), in its strict OpenMetrics
/// mode or its Prometheus text-format mode — the format node_exporter's textfile collector and
/// Prometheus' scrapes read.
public enum MetricsText {
    /// One sample as the parser read it.
    public struct Sample: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var labels: [String: String]
        public var value: Double
        public var description: String { "\(name)\(labels.sorted { $0.key < $1.key }) \(value)" }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The samples of `text`, with each family's type. Throws when the parser rejects the text.
    public static func parse(_ text: String, openMetrics: Bool) throws -> (samples: [Sample], types: [String: String]) {
        let python = "/usr/bin/python3"  // Debian's, which sees python3-prometheus-client (not a pyenv one)
        let script = """
            import json, sys
            if sys.argv[1] == "openmetrics":
                from prometheus_client.openmetrics.parser import text_string_to_metric_families
            else:
                from prometheus_client.parser import text_string_to_metric_families
            out = {"samples": [], "types": {}}
            for family in text_string_to_metric_families(sys.stdin.read()):
                out["types"][family.name] = family.type
                for s in family.samples:
                    out["samples"].append({"name": s.name, "labels": s.labels, "value": s.value})
            print(json.dumps(out))
            """
        let outcome = try ProcessRunner.run([python, "-c", script, openMetrics ? "openmetrics" : "text"],
                                            environment: [:], timeout: 30, stdin: text)
        guard outcome.status == 0, let data = outcome.stdout.data(using: .utf8),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ParseError(description: "the \(openMetrics ? "OpenMetrics" : "Prometheus text") parser rejected the text "
                                 + "(is python3-prometheus-client installed? scripts/setup.sh installs it): \(outcome.stderr)\n\(text)")
        }
        let samples = (json["samples"] as? [[String: Any]] ?? []).map { sample in
            Sample(name: sample["name"] as? String ?? "", labels: sample["labels"] as? [String: String] ?? [:],
                   value: (sample["value"] as? NSNumber)?.doubleValue ?? .nan)
        }
        return (samples, json["types"] as? [String: String] ?? [:])
    }
}

extension Array where Element == MetricsText.Sample {
    /// The samples named `name` whose labels include `labels`.
    public func named(_ name: String, _ labels: [String: String] = [:]) -> [MetricsText.Sample] {
        filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
    }

    /// The value of the one sample named `name` with `labels`, nil when there is not exactly one.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let found = named(name, labels)
        return found.count == 1 ? found[0].value : nil
    }
}
