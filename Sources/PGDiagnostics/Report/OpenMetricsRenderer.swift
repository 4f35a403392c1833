/// Renders ``ProbeMetrics`` families as OpenMetrics text (gauges only, ending in `# EOF`), which
/// the Prometheus text format reads too (node_exporter's textfile collector).
public struct OpenMetricsRenderer: Sendable {
    public init() {}

    public func render(_ families: [ProbeMetrics.Family]) -> String {
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n"
            text += "# TYPE \(family.name) gauge\n"
            for sample in family.samples {
                text += family.name
                if !sample.labels.isEmpty {
                    text += "{" + sample.labels.map { "\($0.name)=\"\(Self.escapeLabel($0.value))\"" }.joined(separator: ",") + "}"
                }
                text += " \(Self.format(sample.value))\n"
            }
        }
        return text + "# EOF\n"
    }

    /// A value as both formats read it: integers without a fraction, others in Swift's shortest form.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// `\`, `"` and newlines escaped, as both formats require in label values.
    static func escapeLabel(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// `\` and newlines escaped (help text).
    static func escapeHelp(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
