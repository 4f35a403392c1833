/// Renders a ``ServerSetupReport`` as the JSON object documented in docs/server-report.schema.json.
///
/// Fields that do not apply are `null`, never invented; a problem's `hba_line` and `ident_map`
/// appear only when a pg_hba.conf line or map is involved, as in `check`'s diagnosis.
public struct ServerSetupJSONRenderer: Sendable {
    /// Pretty-printed (2-space indent) when true; one line otherwise.
    public var pretty: Bool

    /// Creates a renderer.
    public init(pretty: Bool = true) { self.pretty = pretty }

    /// The report as JSON text, without a trailing newline.
    public func render(_ report: ServerSetupReport) -> String {
        Self.json(report).serialized(indent: pretty ? 2 : nil)
    }

    /// The report as a ``JSONValue``.
    public static func json(_ report: ServerSetupReport) -> JSONValue {
        let server = report.server
        return .object([
            ("schema_version", .int(ServerSetupReport.schemaVersion)),
            ("kind", .string("server")),
            ("ok", .bool(report.ok)),
            ("outcome", .string(report.outcome.rawValue)),
            ("server", .object([
                ("source", .string(server.source)),
                ("data_directory", .string(server.dataDirectory)),
                ("config_file", .string(server.configFile)),
                ("hba_file", .string(server.hbaFile)),
                ("ident_file", .string(server.identFile)),
                ("major_version", .int(server.majorVersion)),
                ("version_source", .string(server.versionSource)),
                ("server_version", .string(server.serverVersion)),
                ("os_user", .string(server.osUser)),
            ])),
            ("login", report.login.map(json) ?? .null),
            ("checks", .array(report.checks.map(JSONReportRenderer.json))),
            ("diagnosis", report.diagnosis.map(json) ?? .null),
            ("problems", .array(report.problems.map(json))),
            ("warnings", .array(report.warnings.map(JSONReportRenderer.json))),
            ("settings", .array(report.settings.map { setting in
                .object([
                    ("name", .string(setting.name)),
                    ("value", .string(setting.value)),
                    ("origin", .string(setting.origin)),
                    ("pending_value", .string(setting.pendingValue)),
                ])
            })),
        ])
    }

    static func json(_ problem: ServerSetupReport.Problem) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("code", .string(problem.code.rawValue)),
            ("layer", .string(problem.layer.rawValue)),
            ("consequence", .string(problem.consequence.rawValue)),
            ("summary", .string(problem.summary)),
            ("what_happens", .string(problem.whatHappens)),
            ("explanation", .string(problem.explanation)),
            ("evidence", .array(problem.evidence.map { .string($0) })),
            ("fixes", .array(problem.fixes.map { .string($0) })),
            ("server_message", .string(problem.serverMessage)),
            ("client_message", .string(problem.clientMessage)),
            ("file", .string(problem.file)),
            ("line", problem.line.map { .int($0) } ?? .null),
        ]
        if let line = problem.hbaLine { members.append(("hba_line", JSONReportRenderer.json(line))) }
        if let map = problem.identMap { members.append(("ident_map", .string(map))) }
        return .object(members)
    }

    static func json(_ login: ServerSetupReport.Login) -> JSONValue {
        .object([
            ("certificate_file", .string(login.certificateFile)),
            ("user", .string(login.user)),
            ("database", .string(login.database)),
            ("client_addr", .string(login.clientAddress)),
            ("subject", .string(login.subject)),
            ("common_name", .string(login.commonName)),
            ("verified_chain", login.verifiedChain.map { .array($0.map { .string($0) }) } ?? .null),
            ("decision", .string(login.decision)),
            ("steps", .array(login.steps.map { .string($0) })),
            ("hba_line", login.hbaLine.map(JSONReportRenderer.json) ?? .null),
            ("ident_map", .string(login.identMap)),
            ("succeeds", .bool(login.succeeds)),
        ])
    }
}

/// Renders a ``ServerSetupReport`` for a DBA reading a terminal: each check with ✔/✘/!, then
/// what the server will do and why, the fix, the server's own message, the other problems, and
/// the warnings.
public struct ServerSetupTextRenderer: Sendable {
    /// Whether to use ANSI colours (only on a TTY, and never with `NO_COLOR`).
    public var colour: Bool
    /// Paragraphs are wrapped to this many columns.
    public var width: Int

    /// Creates a renderer.
    public init(colour: Bool = false, width: Int = 96) {
        self.colour = colour
        self.width = max(40, width)
    }

    /// The report as text, ending with a newline.
    public func render(_ report: ServerSetupReport) -> String {
        var lines: [String] = []
        let server = report.server
        var heading = "pgconnect-check server  \(server.dataDirectory ?? server.configFile ?? "")"
        heading += "  (PostgreSQL \(server.majorVersion) from \(server.versionSource)"
        if let user = server.osUser { heading += ", runs as \(user)" }
        heading += server.source == "admin" ? ", read through --admin)" : ")"
        lines.append(bold(heading))
        if let login = report.login {
            lines.append("login: \(login.certificateFile) as \(login.user) to \(login.database) from \(login.clientAddress)")
        }
        lines.append("")

        let layerWidth = report.checks.map(\.layer.rawValue.count).max() ?? 0
        for check in report.checks {
            let mark: String
            switch check.status {
            case .pass: mark = paint("✔", 32)
            case .fail: mark = paint("✘", 31)
            case .warn: mark = paint("!", 33)
            case .skip: mark = paint("-", 90)
            }
            lines.append("  \(mark) \(TextLayout.padded(check.layer.rawValue, to: layerWidth))  \(check.summary)")
            if let detail = check.detail, !detail.isEmpty {
                for line in detail.split(separator: "\n", omittingEmptySubsequences: false) {
                    lines.append("    " + String(repeating: " ", count: layerWidth + 2) + line)
                }
            }
        }
        lines.append("")

        if let diagnosis = report.diagnosis {
            lines.append(paint("✘ \(headline(report)): \(diagnosis.summary)", 31, bold: true) + "  [\(diagnosis.code.rawValue), layer \(diagnosis.layer.rawValue)]")
            lines.append("")
            lines.append(contentsOf: wrap(diagnosis.whatHappens, indent: "  "))
            lines.append(contentsOf: wrap(diagnosis.explanation, indent: "  "))
            if !diagnosis.evidence.isEmpty {
                lines.append("")
                lines.append(bold("Evidence"))
                for item in diagnosis.evidence { lines.append(contentsOf: bullet(item)) }
            }
            if let line = diagnosis.hbaLine { lines.append("  pg_hba line: \(line.file):\(line.line): \(line.text)") }
            if !diagnosis.fixes.isEmpty {
                lines.append("")
                lines.append(bold("Fix"))
                for fix in diagnosis.fixes { lines.append(contentsOf: bullet(fix)) }
            }
            if let message = diagnosis.serverMessage {
                lines.append("")
                lines.append(bold("The server logs"))
                lines.append("  " + message)
            }
            if let message = diagnosis.clientMessage {
                lines.append("")
                lines.append(bold("Clients see"))
                lines.append("  " + message)
            }
        } else if let login = report.login {
            let line = login.hbaLine.map { " (\(HBASimulator.baseName($0.file)) line \($0.line): \($0.text))" } ?? ""
            lines.append(paint("✔ \(login.certificateFile) logs in as \(login.user) to \(login.database)\(line).", 32, bold: true))
        } else {
            lines.append(paint("✔ Ready: the server starts with this configuration and asks clients for certificates it can verify.", 32, bold: true))
        }

        let others = report.problems.filter { $0 != report.diagnosis }
        if !others.isEmpty {
            lines.append("")
            lines.append(bold(report.diagnosis == nil ? "Problems" : "Other problems"))
            for problem in others {
                lines.append(contentsOf: bullet("\(paint("✘", 31)) \(problem.summary)  [\(problem.code.rawValue)]"))
                lines.append(contentsOf: wrap(problem.whatHappens, indent: "      "))
                if let message = problem.serverMessage { lines.append(contentsOf: wrap("server logs: " + message, indent: "      ")) }
                for fix in problem.fixes { lines.append(contentsOf: wrap("fix: " + fix, indent: "      ")) }
            }
        }
        if !report.warnings.isEmpty {
            lines.append("")
            lines.append(bold("Warnings"))
            for warning in report.warnings {
                lines.append(contentsOf: bullet("\(paint("!", 33)) \(warning.summary)  [\(warning.code.rawValue)]"))
                for fix in warning.fixes { lines.append(contentsOf: wrap("fix: " + fix, indent: "      ")) }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func headline(_ report: ServerSetupReport) -> String {
        switch (report.outcome, report.login != nil) {
        case (.willNotStart, _): "The server will refuse to start"
        case (.unreachable, true): "This certificate gets no TLS connection"
        case (.unreachable, false): "Clients get no TLS connection for certificate logins"
        case (.refused, true): "The server will refuse this login"
        case (.refused, false): "Certificate logins will fail"
        case (.ready, _): "Ready"
        }
    }

    private var style: TextStyle { TextStyle(colour: colour, width: width) }
    private func bullet(_ text: String) -> [String] { style.bullet(text) }
    private func wrap(_ text: String, indent: String) -> [String] { style.wrap(text, indent: indent) }
    private func paint(_ text: String, _ code: Int, bold: Bool = false) -> String { style.paint(text, code, bold: bold) }
    private func bold(_ text: String) -> String { style.bold(text) }
}
