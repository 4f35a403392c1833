#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect

/// The server's authentication configuration — pg_hba.conf, pg_ident.conf and, through an
/// administrator connection, the facts about the role and database — for an exact simulation.
public struct AuthConfiguration: Sendable {
    /// Where the configuration comes from.
    public enum Source: Sendable {
        /// Copies of the server's files (`--hba`, `--ident`).
        case files(hba: String, ident: String?)
        /// A privileged connection to the server (`--admin`): its files through `pg_read_file`,
        /// else the views `pg_hba_file_rules` and `pg_ident_file_mappings`.
        case admin(ConnectionOptions)
    }

    public var hba: HBAFile
    public var ident: IdentFile?
    /// How the rules were read, for the report ("pg_hba.conf copy", "the server's hba_file", ...).
    public var origin: String
    /// Roles the user is a member of (itself included); nil when unknown.
    public var roleMemberships: [String]?
    /// Facts only an administrator connection knows; nil when unknown.
    public var roleExists: Bool?
    public var roleCanLogin: Bool?
    public var databaseExists: Bool?
    public var canConnect: Bool?
    public var sslEnabled: Bool?
    public var caFile: String?
    /// Problems reading the configuration (never fatal: the check goes on without it).
    public var problems: [String] = []

    /// Reads the configuration for a login as `user` to `database`.
    public static func load(_ source: Source, user: String, database: String, timeout: Duration = .seconds(10),
                            logger: Logger = Logger(label: "pgconnect.admin")) async -> AuthConfiguration {
        switch source {
        case .files(let hbaPath, let identPath):
            return AuthConfiguration(hba: HBAFile.load(path: hbaPath), ident: identPath.map { IdentFile.load(path: $0) },
                                     origin: "the files given with --hba/--ident")
        case .admin(let options):
            return await loadFromServer(options, user: user, database: database, timeout: timeout, logger: logger)
        }
    }

    private static func loadFromServer(_ options: ConnectionOptions, user: String, database: String, timeout: Duration,
                                       logger: Logger) async -> AuthConfiguration {
        var configuration = AuthConfiguration(hba: HBAFile(rules: []), ident: nil, origin: "the server (--admin)")
        let connection: Connection
        do {
            connection = try await Connection.connect(options, timeout: timeout, logger: logger)
        } catch {
            configuration.problems.append("--admin connection failed: \(error)")
            return configuration
        }
        defer { Task { await connection.close() } }
        do {
            let settings = try await connection.query(
                "SELECT current_setting('hba_file'), current_setting('ident_file'), current_setting('ssl'), current_setting('ssl_ca_file')")
            let hbaFile = settings[0][0].string ?? "pg_hba.conf"
            let identFile = settings[0][1].string ?? "pg_ident.conf"
            configuration.sslEnabled = settings[0][2].string == "on"
            configuration.caFile = settings[0][3].string
            // The files themselves carry what the views leave out (clientname=DN, quoting, the exact text).
            if let hbaText = try? await connection.query("SELECT pg_read_file($1)", [hbaFile])[0][0].string,
               let identText = try? await connection.query("SELECT pg_read_file($1)", [identFile])[0][0].string {
                configuration.hba = HBAFile.parse(hbaText, path: hbaFile)
                configuration.ident = IdentFile.parse(identText, path: identFile)
                configuration.origin = "the server's \(hbaFile) and \(identFile) (via --admin)"
            } else {
                configuration = try await fromViews(connection, configuration, hbaFile: hbaFile, identFile: identFile)
            }
            let role = try await connection.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [user])
            configuration.roleExists = !role.isEmpty
            configuration.roleCanLogin = role.first?[0].bool
            if configuration.roleExists == true {
                let memberships = try await connection.query(
                    "SELECT r.rolname FROM pg_roles r WHERE pg_has_role($1, r.oid, 'MEMBER') ORDER BY 1", [user])
                configuration.roleMemberships = memberships.compactMap { $0[0].string }
            }
            let databaseRow = try await connection.query("SELECT 1 FROM pg_database WHERE datname = $1", [database])
            configuration.databaseExists = !databaseRow.isEmpty
            if configuration.roleExists == true, configuration.databaseExists == true {
                configuration.canConnect = try await connection.query(
                    "SELECT has_database_privilege($1, $2, 'CONNECT')", [user, database])[0][0].bool
            }
        } catch {
            configuration.problems.append("reading the server's configuration failed: \(error)")
        }
        await connection.close()
        return configuration
    }

    /// The views, for an administrator who may not read files (`pg_read_server_files`).
    private static func fromViews(_ connection: Connection, _ configuration: AuthConfiguration, hbaFile: String,
                                  identFile: String) async throws -> AuthConfiguration {
        var configuration = configuration
        let rules = try await connection.query("""
            SELECT line_number, type, database, user_name, address, netmask, auth_method, options, error
            FROM pg_hba_file_rules ORDER BY line_number
            """)
        var hbaRules: [HBARule] = []
        for row in rules {
            if let error = row[8].string {
                configuration.problems.append("\(hbaFile) line \(row[0].int ?? 0): \(error)")
                continue
            }
            hbaRules.append(HBARule(fileRulesViewRow: row[0].int ?? 0, fileName: hbaFile, type: row[1].string ?? "host",
                                    database: Self.array(row[2].string), userName: Self.array(row[3].string),
                                    address: row[4].string, netmask: row[5].string, authMethod: row[6].string ?? "",
                                    options: Self.array(row[7].string)))
        }
        configuration.hba = HBAFile(rules: hbaRules, files: [hbaFile])
        let mappings = try await connection.query(
            "SELECT line_number, map_name, sys_name, pg_username, error FROM pg_ident_file_mappings ORDER BY line_number")
        var identMappings: [IdentMapping] = []
        for row in mappings {
            if let error = row[4].string {
                configuration.problems.append("\(identFile) line \(row[0].int ?? 0): \(error)")
                continue
            }
            identMappings.append(IdentMapping(fileMappingsViewRow: row[0].int ?? 0, fileName: identFile, mapName: row[1].string ?? "",
                                              systemName: row[2].string ?? "", databaseUserName: row[3].string ?? ""))
        }
        configuration.ident = IdentFile(mappings: identMappings, files: [identFile])
        configuration.origin = "the server's pg_hba_file_rules and pg_ident_file_mappings views (via --admin; clientname=DN is not visible there)"
        return configuration
    }

    /// A PostgreSQL text array (`{a,"b c"}`) as strings.
    static func array(_ text: String?) -> [String] {
        guard var text, text.hasPrefix("{"), text.hasSuffix("}") else { return text.map { [$0] } ?? [] }
        text = String(text.dropFirst().dropLast())
        var items: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            switch character {
            case "\\" where quoted: escaped = true
            case "\"": quoted.toggle()
            case "," where !quoted: items.append(current); current = ""
            default: current.append(character)
            }
        }
        if !text.isEmpty { items.append(current) }
        return items
    }

    /// Every error in the files the server itself would report (a server refuses to load a file with one).
    public var serverErrors: [AuthFileError] { hba.serverErrors + (ident?.serverErrors ?? []) }
}
