/// Renders a ``Report`` for a person reading a terminal top to bottom: each check with ✔/✘/!,
/// then the diagnosis in plain words, its evidence and the fix, then warnings and timings.
public struct TextReportRenderer: Sendable {
    /// Whether to use ANSI colours (only on a TTY, and never with `NO_COLOR`).
    public var colour: Bool
    /// Paragraphs are wrapped to this many columns.
    public var width: Int

    public init(colour: Bool = false, width: Int = 96) {
        self.colour = colour
        self.width = max(40, width)
    }

    /// The report as text, ending with a newline.
    public func render(_ report: Report) -> String {
        var lines: [String] = []
        let target = report.target
        var heading = "pgconnect-check  "
        heading += [target.user.map { "user=\($0)" }, target.host.map { "host=\($0)" }, target.port.map { "port=\($0)" },
                    target.dbname.map { "dbname=\($0)" }, target.sslmode.map { "sslmode=\($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        lines.append(bold(heading))
        lines.append("")

        let width = report.checks.map(\.layer.rawValue.count).max() ?? 0
        for check in report.checks {
            let mark: String
            switch check.status {
            case .pass: mark = paint("✔", 32)
            case .fail: mark = paint("✘", 31)
            case .warn: mark = paint("!", 33)
            case .skip: mark = paint("-", 90)
            }
            let layer = TextLayout.padded(check.layer.rawValue, to: width)
            lines.append("  \(mark) \(layer)  \(check.summary)")
            if let detail = check.detail {
                for line in detail.split(separator: "\n", omittingEmptySubsequences: false) {
                    lines.append("    " + String(repeating: " ", count: width + 2) + line)
                }
            }
        }
        lines.append("")

        if let diagnosis = report.diagnosis {
            lines.append(paint("✘ \(diagnosis.summary)", 31, bold: true) + "  [\(diagnosis.code.rawValue), layer \(diagnosis.layer.rawValue)]")
            lines.append("")
            lines.append(contentsOf: wrap(diagnosis.explanation, indent: "  "))
            if !diagnosis.evidence.isEmpty {
                lines.append("")
                lines.append(bold("Evidence"))
                for item in diagnosis.evidence { lines.append(contentsOf: bullet(item)) }
            }
            if let line = diagnosis.hbaLine {
                lines.append("  pg_hba line: \(line.file):\(line.line): \(line.text)")
            }
            if !diagnosis.fixes.isEmpty {
                lines.append("")
                lines.append(bold("Fix"))
                for fix in diagnosis.fixes { lines.append(contentsOf: bullet(fix)) }
            }
            if let message = diagnosis.libpqMessage {
                lines.append("")
                lines.append(bold("libpq said"))
                for line in message.split(separator: "\n", omittingEmptySubsequences: false) { lines.append("  " + line) }
            }
        } else if report.outcome == .notAttempted {
            lines.append(paint("- Not attempted (--no-connect): the local checks found nothing that stops this login; nothing was sent to the server.", 33, bold: true))
        } else if report.ok {
            var summary = "Connected"
            if let user = report.server?.currentUser { summary += " as \(user)" }
            if let version = report.server?.version { summary += " to PostgreSQL \(version)" }
            if let tls = report.tls, let protocolVersion = tls.protocolVersion {
                summary += " over \(protocolVersion)"
                if let cipher = tls.cipher { summary += " (\(cipher))" }
            } else {
                summary += " without TLS"
            }
            lines.append(paint("✔ " + summary + ".", 32, bold: true))
        }

        if !report.warnings.isEmpty {
            lines.append("")
            lines.append(bold("Warnings"))
            for warning in report.warnings {
                lines.append(contentsOf: bullet("\(paint("!", 33)) \(warning.summary)  [\(warning.code.rawValue)]"))
                for fix in warning.fixes { lines.append(contentsOf: wrap("fix: " + fix, indent: "      ")) }
            }
        }

        if !report.timingsMilliseconds.isEmpty {
            lines.append("")
            lines.append("Timings: " + report.timingsMilliseconds.map { "\($0.phase) \(Self.format($0.milliseconds)) ms" }
                .joined(separator: " · "))
        }
        lines.append("")
        lines.append(contentsOf: wrap("Ran with " + report.runtime.summary + ".", indent: ""))
        return lines.joined(separator: "\n") + "\n"
    }

    static func format(_ milliseconds: Double) -> String {
        let rounded = (milliseconds * 10).rounded() / 10
        return String(rounded)
    }

    private var style: TextStyle { TextStyle(colour: colour, width: width) }
    private func bullet(_ text: String) -> [String] { style.bullet(text) }
    private func wrap(_ text: String, indent: String) -> [String] { style.wrap(text, indent: indent) }
    private func paint(_ text: String, _ code: Int, bold: Bool = false) -> String { style.paint(text, code, bold: bold) }
    private func bold(_ text: String) -> String { style.bold(text) }
}
