#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// Text and JSON for ``FileInspector`` results (`pgconnect-check inspect`).
public enum InspectionRenderer {
    /// A report for people: per file, per certificate, the facts a login depends on.
    public static func text(_ files: [FileInspector.Inspected], now: Date = Date()) -> String {
        var lines: [String] = []
        for file in files {
            lines.append("\(file.path): \(describeKind(file))")
            if let problem = file.problem { lines.append("  ! \(problem)") }
            for (index, certificate) in file.certificates.enumerated() {
                let info = certificate.info
                if file.certificates.count > 1 { lines.append("  [\(index)]") }
                let indent = file.certificates.count > 1 ? "    " : "  "
                lines.append("\(indent)subject     \(info.subject)   (RFC 2253: the form clientname=DN compares)")
                lines.append("\(indent)CN          \(info.commonName ?? "(none)")   (what cert authentication compares with the user)")
                lines.append("\(indent)issuer      \(info.issuer)")
                if !info.subjectAlternativeNames.isEmpty {
                    lines.append("\(indent)SAN         \(info.subjectAlternativeNames.joined(separator: ", "))")
                }
                lines.append("\(indent)serial      \(info.serialNumber)")
                let validity = "\(info.notBefore.map(LoginChecker.iso8601) ?? "?") to \(info.notAfter.map(LoginChecker.iso8601) ?? "?")"
                var state = ""
                if let notAfter = info.notAfter, notAfter < now { state = "  EXPIRED" }
                if let notBefore = info.notBefore, notBefore > now { state = "  NOT YET VALID" }
                lines.append("\(indent)valid       \(validity)\(state)")
                lines.append("\(indent)key         \(certificate.publicKey)")
                lines.append("\(indent)usage       \(info.extendedKeyUsage.isEmpty ? "any (no extendedKeyUsage)" : info.extendedKeyUsage.joined(separator: ", "))")
                lines.append("\(indent)CA          \(info.isCA ? "yes" : "no")\(info.isSelfSigned ? ", self-signed" : "")")
                lines.append("\(indent)sha256      \(info.sha256Fingerprint)")
            }
            if let key = file.key {
                lines.append("  key         \(key.algorithm ?? "unknown until opened")\(key.encrypted ? ", encrypted" : "")")
                if key.algorithm != nil {
                    lines.append("  matches     \(key.matches.isEmpty ? "none of the certificates given" : key.matches.joined(separator: ", "))")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One JSON object: `{"files": [...]}`.
    public static func json(_ files: [FileInspector.Inspected]) -> String {
        JSONValue.object([("files", .array(files.map { file in
            .object([
                ("path", .string(file.path)),
                ("kind", .string(file.kind)),
                ("problem", .string(file.problem)),
                ("certificates", .array(file.certificates.map { certificate in
                    let info = certificate.info
                    return .object([
                        ("subject", .string(info.subject)),
                        ("common_name", .string(info.commonName)),
                        ("issuer", .string(info.issuer)),
                        ("san", .array(info.subjectAlternativeNames.map { .string($0) })),
                        ("serial", .string(info.serialNumber)),
                        ("not_before", .string(info.notBefore.map(LoginChecker.iso8601))),
                        ("not_after", .string(info.notAfter.map(LoginChecker.iso8601))),
                        ("public_key", .string(certificate.publicKey)),
                        ("extended_key_usage", .array(info.extendedKeyUsage.map { .string($0) })),
                        ("is_ca", .bool(info.isCA)),
                        ("self_signed", .bool(info.isSelfSigned)),
                        ("sha256", .string(info.sha256Fingerprint)),
                    ])
                })),
                ("key", file.key.map { key in
                    .object([
                        ("algorithm", .string(key.algorithm)),
                        ("encrypted", .bool(key.encrypted)),
                        ("matches", .array(key.matches.map { .string($0) })),
                    ])
                } ?? .null),
            ])
        }))]).serialized(indent: 2)
    }

    static func describeKind(_ file: FileInspector.Inspected) -> String {
        switch file.kind {
        case "certificates": file.certificates.count == 1 ? "1 certificate" : "\(file.certificates.count) certificates"
        case "private-key": "private key"
        case "encrypted-private-key": "encrypted private key"
        default: "unreadable"
        }
    }
}
