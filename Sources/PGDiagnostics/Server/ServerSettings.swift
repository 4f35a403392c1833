/// The server settings the setup check reads, with their defaults and value rules per major
/// version (guc_tables.c / guc.c, PostgreSQL 13–17), and the messages the server logs for a
/// value it refuses (proven with `postgres -C` against PostgreSQL 15 in ServerSetupTests).
///
/// Only the SSL settings and the file locations are known here; an unknown name that starts with
/// `ssl` is refused as the server refuses it. Other unknown names are not judged (the check does
/// not carry the list of every parameter of every version).
public enum ServerSettings {
    /// The oldest and newest major versions whose rules are encoded.
    public static let supportedVersions = 13...17

    enum Kind {
        case bool
        case string
        case enumeration([String])
        /// An integer parameter whose only valid value is 0 (`ssl_renegotiation_limit`).
        case zeroOnly
        /// A parameter a configuration file may not set (`PGC_INTERNAL`).
        case `internal`
    }

    static let protocolVersions = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

    /// name → (kind, default, first major version that has it).
    static let known: [String: (kind: Kind, defaultValue: String, since: Int)] = [
        "ssl": (.bool, "off", 0),
        "ssl_ca_file": (.string, "", 0),
        "ssl_cert_file": (.string, "server.crt", 0),
        "ssl_key_file": (.string, "server.key", 0),
        "ssl_crl_file": (.string, "", 0),
        "ssl_crl_dir": (.string, "", 14),
        "ssl_ciphers": (.string, "HIGH:MEDIUM:+3DES:!aNULL", 0),
        "ssl_prefer_server_ciphers": (.bool, "on", 0),
        "ssl_ecdh_curve": (.string, "prime256v1", 0),
        "ssl_min_protocol_version": (.enumeration(protocolVersions), "TLSv1.2", 0),
        "ssl_max_protocol_version": (.enumeration([""] + protocolVersions), "", 0),
        "ssl_dh_params_file": (.string, "", 0),
        "ssl_passphrase_command": (.string, "", 0),
        "ssl_passphrase_command_supports_reload": (.bool, "off", 0),
        "ssl_renegotiation_limit": (.zeroOnly, "0", 0),
        "ssl_library": (.internal, "OpenSSL", 0),
        "hba_file": (.string, "", 0),
        "ident_file": (.string, "", 0),
        "data_directory": (.string, "", 0),
        "listen_addresses": (.string, "localhost", 0),
        "port": (.string, "5432", 0),
    ]

    /// The server's default for `name`, nil when the setting is not known here.
    public static func defaultValue(_ name: String, majorVersion: Int) -> String? {
        guard let setting = known[name.lowercased()], majorVersion >= setting.since else { return nil }
        return setting.defaultValue
    }

    /// Whether `name` is a setting of `majorVersion` known here.
    public static func exists(_ name: String, majorVersion: Int) -> Bool {
        defaultValue(name, majorVersion: majorVersion) != nil
    }

    enum Verdict: Equatable {
        case ok
        case unknown
        case invalid(message: String, hint: String?)
    }

    /// Whether the server accepts `value` for `name` in a configuration file.
    static func check(name: String, value: String, majorVersion: Int) -> Verdict {
        let key = name.lowercased()
        guard let setting = known[key], majorVersion >= setting.since else {
            // Names with a dot are custom (extension) parameters; the server makes placeholders.
            return key.hasPrefix("ssl") && !key.contains(".") ? .unknown : .ok
        }
        switch setting.kind {
        case .string:
            return .ok
        case .bool:
            return parseBool(value) == nil ? .invalid(message: "parameter \"\(key)\" requires a Boolean value", hint: nil) : .ok
        case .enumeration(let options):
            guard options.contains(where: { $0.lowercased() == value.lowercased() }) else {
                return .invalid(message: "invalid value for parameter \"\(key)\": \"\(value)\"",
                                hint: "Available values: \(options.joined(separator: ", ")).")
            }
            return .ok
        case .zeroOnly:
            if let number = Int(value), number != 0 {
                return .invalid(message: "\(value) is outside the valid range for parameter \"\(key)\" (0 .. 0)", hint: nil)
            }
            return Int(value) == nil ? .invalid(message: "invalid value for parameter \"\(key)\": \"\(value)\"", hint: nil) : .ok
        case .internal:
            return .invalid(message: "parameter \"\(key)\" cannot be changed", hint: nil)
        }
    }

    /// `value` as the server shows it: `on`/`off` for a boolean, the option's own spelling for an
    /// enum (`tlsv1.3` → `TLSv1.3`); other values as written.
    static func canonical(name: String, value: String, majorVersion: Int) -> String {
        guard let setting = known[name.lowercased()], majorVersion >= setting.since else { return value }
        switch setting.kind {
        case .bool: return parseBool(value).map { $0 ? "on" : "off" } ?? value
        case .enumeration(let options): return options.first { $0.lowercased() == value.lowercased() } ?? value
        default: return value
        }
    }

    /// `parse_bool()`: `true`/`false`/`yes`/`no` and their prefixes, `on`/`off` (at least two
    /// letters), `1`/`0`; case-insensitive.
    public static func parseBool(_ value: String) -> Bool? {
        let lower = value.lowercased()
        guard let first = lower.first else { return nil }
        func prefix(of word: String, minimum: Int = 1) -> Bool {
            lower.count >= minimum && lower.count <= word.count && word.hasPrefix(lower)
        }
        switch first {
        case "t": return prefix(of: "true") ? true : nil
        case "f": return prefix(of: "false") ? false : nil
        case "y": return prefix(of: "yes") ? true : nil
        case "n": return prefix(of: "no") ? false : nil
        case "o":
            if prefix(of: "on", minimum: 2) { return true }
            if prefix(of: "off", minimum: 2) { return false }
            return nil
        case "1": return lower == "1" ? true : nil
        case "0": return lower == "0" ? false : nil
        default: return nil
        }
    }

    /// The OpenSSL protocol number of a `ssl_*_protocol_version` value; nil for `''` (any).
    static func protocolNumber(_ value: String) -> Int32? {
        switch value.lowercased() {
        case "tlsv1": 0x0301
        case "tlsv1.1": 0x0302
        case "tlsv1.2": 0x0303
        case "tlsv1.3": 0x0304
        default: nil
        }
    }
}
