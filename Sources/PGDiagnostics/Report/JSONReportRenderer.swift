import PGConnect

/// Renders a ``Report`` as the JSON object documented in the README (schema version 1).
///
/// Fields that do not apply are `null`, never invented; `diagnosis` is `null` for a login that
/// worked; `hba_line` and `ident_map` appear only when the server's files or views were read.
public struct JSONReportRenderer: Sendable {
    /// Pretty-printed (2-space indent) when true; one line otherwise.
    public var pretty: Bool

    public init(pretty: Bool = true) { self.pretty = pretty }

    /// The report as JSON text, without a trailing newline.
    public func render(_ report: Report) -> String {
        Self.json(report).serialized(indent: pretty ? 2 : nil)
    }

    /// One check, as `check` and `server` print it.
    static func json(_ check: Report.Check) -> JSONValue {
        .object([
            ("layer", .string(check.layer.rawValue)),
            ("id", .string(check.id)),
            ("status", .string(check.status.rawValue)),
            ("summary", .string(check.summary)),
            ("detail", .string(check.detail)),
        ])
    }

    /// One warning, as `check` and `server` print it.
    static func json(_ warning: Report.Warning) -> JSONValue {
        .object([("code", .string(warning.code.rawValue)), ("summary", .string(warning.summary)), ("fixes", .array(warning.fixes.map { .string($0) }))])
    }

    /// A pg_hba.conf line, as `check` and `server` print it.
    static func json(_ line: Report.HBALine) -> JSONValue {
        .object([("file", .string(line.file)), ("line", .int(line.line)), ("text", .string(line.text))])
    }

    /// The report as a ``JSONValue``.
    public static func json(_ report: Report) -> JSONValue {
        .object([
            ("schema_version", .int(Report.schemaVersion)),
            ("ok", .bool(report.ok)),
            ("outcome", .string(report.outcome.rawValue)),
            ("target", .object([
                ("host", .string(report.target.host)),
                ("port", .string(report.target.port)),
                ("user", .string(report.target.user)),
                ("dbname", .string(report.target.dbname)),
                ("sslmode", .string(report.target.sslmode)),
                ("conninfo", .string(report.target.conninfo)),
            ])),
            ("checks", .array(report.checks.map(json))),
            ("diagnosis", report.diagnosis.map(json) ?? .null),
            ("warnings", .array(report.warnings.map(json))),
            ("tls", report.tls.map(json) ?? .null),
            ("server", report.server.map { server in
                .object([
                    ("version", .string(server.version)),
                    ("current_user", .string(server.currentUser)),
                    ("client_dn", .string(server.clientDN)),
                    ("ssl", server.ssl.map { .bool($0) } ?? .null),
                ])
            } ?? .null),
            ("timings_ms", .object(report.timingsMilliseconds.map { ($0.phase, .double($0.milliseconds)) })),
            ("runtime", json(report.runtime)),
        ])
    }

    static func json(_ runtime: LibPQRuntime) -> JSONValue {
        .object([
            ("libpq_version", .string(runtime.version)),
            ("libpq_version_num", .int(runtime.versionNumber)),
            ("libpq_library", .string(runtime.libraryPath)),
            ("libpq_openssl", .string(runtime.openSSLVersion)),
            ("libpq_openssl_library", .string(runtime.openSSLLibraryPath)),
            ("openssl", .string(runtime.ownOpenSSLVersion)),
            ("openssl_library", .string(runtime.ownOpenSSLLibraryPath)),
            ("openssl_shared", .bool(runtime.sharesOpenSSL)),
        ])
    }

    static func json(_ diagnosis: Report.Diagnosis) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("code", .string(diagnosis.code.rawValue)),
            ("layer", .string(diagnosis.layer.rawValue)),
            ("summary", .string(diagnosis.summary)),
            ("explanation", .string(diagnosis.explanation)),
            ("evidence", .array(diagnosis.evidence.map { .string($0) })),
            ("fixes", .array(diagnosis.fixes.map { .string($0) })),
            ("libpq_message", .string(diagnosis.libpqMessage)),
            ("sqlstate", .string(diagnosis.sqlState)),
        ]
        if let line = diagnosis.hbaLine {
            members.append(("hba_line", json(line)))
        }
        if let map = diagnosis.identMap { members.append(("ident_map", .string(map))) }
        return .object(members)
    }

    static func json(_ tls: Report.TLSReport) -> JSONValue {
        .object([
            ("protocol", .string(tls.protocolVersion)),
            ("cipher", .string(tls.cipher)),
            ("server_certificate", tls.serverCertificate.map { certificate in
                .object([
                    ("subject", .string(certificate.subject)),
                    ("issuer", .string(certificate.issuer)),
                    ("san", .array(certificate.san.map { .string($0) })),
                    ("not_after", .string(certificate.notAfter)),
                ])
            } ?? .null),
            ("client_ca_names", tls.clientCANames.map { .array($0.map { .string($0) }) } ?? .null),
        ])
    }
}
