import Foundation

/// Validates JSON against docs/report.schema.json and docs/server-report.schema.json: the subset of
/// JSON Schema those files use (`type`, `required`, `properties`, `additionalProperties: false`,
/// `enum`, `items`, `$ref` to `#/$defs/…`, whose sibling keywords apply too, as in draft 2020-12).
struct SchemaValidator {
    let root: [String: Any]

    /// The report schema from the repository (read on each use: it is small, and [String: Any] is not Sendable).
    static var report: SchemaValidator { named("report.schema.json") }

    /// The `pgconnect-check server` report schema.
    static var server: SchemaValidator { named("server-report.schema.json") }

    static func named(_ file: String) -> SchemaValidator {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/" + file)
        let data = (try? Data(contentsOf: url)) ?? Data("{}".utf8)
        return SchemaValidator(root: (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    /// Every violation, as `path: problem`; empty when valid.
    func validate(_ value: Any) -> [String] {
        var problems: [String] = []
        check(value, against: root, path: "$", into: &problems)
        return problems
    }

    private func resolve(_ schema: [String: Any]) -> [String: Any] {
        guard let reference = schema["$ref"] as? String, reference.hasPrefix("#/$defs/") else { return schema }
        let name = String(reference.dropFirst("#/$defs/".count))
        var merged = (root["$defs"] as? [String: Any])?[name] as? [String: Any] ?? [:]
        for (key, value) in schema where key != "$ref" { merged[key] = value }
        return merged
    }

    private func typeName(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let number = value as? NSNumber {
            // JSONSerialization gives booleans as NSNumber with objCType "c" (char).
            if String(cString: number.objCType) == "c" { return "boolean" }
            return number.doubleValue == number.doubleValue.rounded() ? "integer" : "number"
        }
        if value is String { return "string" }
        if value is [Any] { return "array" }
        if value is [String: Any] { return "object" }
        return "unknown"
    }

    private func check(_ value: Any, against raw: [String: Any], path: String, into problems: inout [String]) {
        let schema = resolve(raw)
        if let types = schema["type"] {
            let allowed = (types as? [String]) ?? [(types as? String) ?? ""]
            let actual = typeName(value)
            let ok = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
            if !ok { problems.append("\(path): \(actual) is not \(allowed.joined(separator: "|"))"); return }
            if actual == "null" { return }
        }
        if let options = schema["enum"] as? [Any] {
            let matches = options.contains { ($0 as? NSObject)?.isEqual(value) ?? false }
            if !matches { problems.append("\(path): \(value) is not one of \(options)") }
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(path): missing \(key)")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, child) in object {
                if let childSchema = properties[key] as? [String: Any] {
                    check(child, against: childSchema, path: "\(path).\(key)", into: &problems)
                } else if (schema["additionalProperties"] as? Bool) == false {
                    problems.append("\(path): unexpected \(key)")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, item) in array.enumerated() { check(item, against: items, path: "\(path)[\(index)]", into: &problems) }
        }
    }
}
