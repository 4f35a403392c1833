#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect

/// `pgconnect-check server --admin CONNINFO`: the setup check from the running server's point of
/// view. It reads the settings the server runs with (`pg_settings`), what its files say now
/// (`pg_file_settings`: errors a reload or restart would meet, values not applied yet),
/// `pending_restart`, whether pg_hba.conf/pg_ident.conf changed after the last reload
/// (`pg_stat_file` against `pg_conf_load_time()`), and, for `--client-cert`, the role and database.
///
/// When the server's configuration file is readable here (the check runs on the server's
/// machine), the files are then checked as offline, as the running server would load them on its
/// next reload or restart. Otherwise the server's own views stand in: pg_hba.conf and pg_ident.conf
/// through `pg_read_file` (else `pg_hba_file_rules`/`pg_ident_file_mappings`), the certificate, CA
/// file and CRL through `pg_read_file` (never the key).
struct ServerAdminView {
    var request: ServerSetupCheck.Request
    var options: ConnectionOptions
    var now: Date
    var logger: Logger

    static let settingNames = ServerSetupCheck.reportedSettings + ["data_directory", "config_file", "server_version", "server_version_num"]

    func run() async throws -> ServerSetupReport {
        let connection: Connection
        do {
            connection = try await Connection.connect(options, timeout: .seconds(10), logger: logger)
        } catch {
            return failed(.adminConnectionFailed((error as? ConnectionError)?.message ?? String(describing: error)))
        }
        defer { Task { await connection.close() } }
        do {
            let report = try await check(connection)
            await connection.close()
            return report
        } catch let error as ServerSetupCheck.InputError {
            await connection.close()
            throw error
        } catch {
            await connection.close()
            return failed(.adminConnectionFailed("reading the server's settings failed: \(error)"))
        }
    }

    /// A report that says only that the server could not be read.
    private func failed(_ finding: ServerFinding) -> ServerSetupReport {
        let explainer = ServerSetupExplainer(majorVersion: request.majorVersion ?? 0, dataDirectory: "", configFile: "", hbaFile: "",
                                             identFile: "", osUser: "")
        let server = ServerSetupReport.Server(source: "admin", dataDirectory: nil, configFile: nil, hbaFile: nil, identFile: nil,
                                              majorVersion: request.majorVersion ?? 0, versionSource: "server", osUser: nil)
        return ServerSetupCheck.assemble(findings: [finding], login: nil, explainer: explainer, server: server, checks: [], settings: [])
    }

    private struct Running {
        var values: [String: String] = [:]
        var pendingRestart: [String] = []
    }

    private func check(_ connection: Connection) async throws -> ServerSetupReport {
        var running = Running()
        let rows = try await connection.query(
            "SELECT name, setting, pending_restart FROM pg_settings WHERE name = ANY($1::text[]) OR pending_restart ORDER BY name",
            ["{" + Self.settingNames.joined(separator: ",") + "}"])
        for row in rows {
            guard let name = row[0].string else { continue }
            if Self.settingNames.contains(name) { running.values[name] = row[1].string ?? "" }
            if row[2].bool == true { running.pendingRestart.append(name) }
        }
        guard let number = running.values["server_version_num"].flatMap(Int.init) else {
            throw ServerSetupCheck.InputError("--admin: the server did not show server_version_num")
        }
        let majorVersion = number / 10000
        guard let configFile = running.values["config_file"], let dataDirectory = running.values["data_directory"] else {
            throw ServerSetupCheck.InputError("--admin: the role may not read config_file/data_directory; connect as a superuser or a member of pg_read_all_settings")
        }
        var online = ServerSetupCheck.OnlineFacts(serverVersion: running.values["server_version"])
        if !running.pendingRestart.isEmpty { online.findings.append(.pendingRestart(running.pendingRestart)) }
        let (fileProblems, pending) = try await fileSettings(connection, running: running, majorVersion: majorVersion)
        online.findings += fileProblems
        if !pending.isEmpty {
            online.findings.append(.pendingReload(pending))
            for setting in pending { online.pending[setting.name] = setting.running }
        }
        for file in ["hba_file", "ident_file"] {
            let changed = try? await connection.query(
                "SELECT (pg_stat_file(current_setting($1))).modification > pg_conf_load_time()", [file])
            if changed?.first?[0].bool == true { online.findings.append(.authFileChangedSinceReload(file: running.values[file] ?? file)) }
        }
        if let user = request.user, request.clientCertificate != nil {
            (online.roleFacts, online.memberships) = try await roleFacts(connection, user: user, database: request.database ?? user)
        }

        if access(configFile, R_OK) == 0 {
            // On the server's machine: the files as the server will load them, plus the online facts.
            var local = request
            local.admin = nil
            local.directory = AuthFilePath.parentDirectory(of: configFile)
            local.configFile = configFile
            local.majorVersion = majorVersion
            var report = try ServerSetupCheck(now: now, logger: logger).checkFiles(local, online: online)
            if report.server.dataDirectory != dataDirectory { report.server.dataDirectory = dataDirectory }
            return report
        }
        return try await checkViews(connection, running: running, majorVersion: majorVersion, online: online)
    }

    /// `pg_file_settings`: errors (a reload or restart would meet them) and the last value of each
    /// setting, compared with the running one.
    private func fileSettings(_ connection: Connection, running: Running, majorVersion: Int) async throws
        -> ([ServerFinding], [ServerFinding.PendingSetting]) {
        guard let rows = try? await connection.query(
            """
            SELECT f.sourcefile, f.sourceline, f.name, f.setting, f.error, s.context
            FROM pg_file_settings f LEFT JOIN pg_settings s ON s.name = f.name ORDER BY f.seqno
            """) else {
            return ([.adminReadFailed("pg_file_settings is not readable by this role (superuser only): pending changes are not checked")], [])
        }
        var findings: [ServerFinding] = []
        var last: [String: (value: String, file: String?, line: Int?)] = [:]
        for row in rows {
            let file = row[0].string ?? "", line = row[1].int ?? 0
            // A changed postmaster-level setting "could not be applied" until a restart: pending, not broken.
            if let error = row[4].string, !(error == "setting could not be applied" && row[5].string == "postmaster") {
                let name = row[2].string.map { " \"\($0)\"" } ?? ""
                let kind: ServerConfiguration.Problem.Kind = error.contains("unrecognized") ? .unknownParameter
                    : error.contains("syntax") ? .syntax : error.contains("could not be applied") ? .invalidValue : .missingFile
                findings.append(.configProblem(.init(kind: kind, file: file, line: line, message: "\(file):\(line): \(error)\(name)")))
                continue
            }
            guard let name = row[2].string?.lowercased() else { continue }
            last[name] = (row[3].string ?? "", file, line)
        }
        var pending: [ServerFinding.PendingSetting] = []
        for (name, entry) in last.sorted(by: { $0.key < $1.key }) {
            guard let current = running.values[name], !running.pendingRestart.contains(name) else { continue }
            let inFiles = ServerSettings.canonical(name: name, value: entry.value, majorVersion: majorVersion)
            if inFiles != current {
                pending.append(.init(name: name, running: current, inFiles: inFiles, file: entry.file, line: entry.line))
            }
        }
        return (findings, pending)
    }

    private func roleFacts(_ connection: Connection, user: String, database: String) async throws -> ([ServerFinding], [String]?) {
        var facts: [ServerFinding] = []
        let role = try await connection.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [user])
        var memberships: [String]?
        if role.isEmpty {
            facts.append(.roleMissing(user))
        } else {
            if role[0][0].bool == false { facts.append(.roleCannotLogin(user)) }
            memberships = try await connection.query(
                "SELECT r.rolname FROM pg_roles r WHERE pg_has_role($1, r.oid, 'MEMBER') AND r.rolname <> $1 ORDER BY 1", [user])
                .compactMap { $0[0].string }
        }
        let databaseRow = try await connection.query("SELECT 1 FROM pg_database WHERE datname = $1", [database])
        if databaseRow.isEmpty {
            facts.append(.databaseMissing(database))
        } else if !role.isEmpty,
                  try await connection.query("SELECT has_database_privilege($1, $2, 'CONNECT')", [user, database])[0][0].bool == false {
            facts.append(.connectDenied(role: user, database: database))
        }
        return (facts, memberships)
    }

    // MARK: Through the server's views

    private func checkViews(_ connection: Connection, running: Running, majorVersion: Int,
                            online: ServerSetupCheck.OnlineFacts) async throws -> ServerSetupReport {
        let dataDirectory = running.values["data_directory"] ?? ""
        let configFile = running.values["config_file"] ?? ""
        let hbaPath = running.values["hba_file"] ?? "pg_hba.conf"
        let identPath = running.values["ident_file"] ?? "pg_ident.conf"
        var reported = ServerConfiguration(configFile: configFile, dataDirectory: dataDirectory, majorVersion: majorVersion)
        for name in ServerSetupCheck.reportedSettings {
            if let value = running.values[name] {
                reported.entries.append(.init(name: name, value: value, file: "server", line: 0, source: .server))
            }
        }
        var findings = online.findings
        var checks: [Report.Check] = [
            .init(layer: .config, id: "server-config", status: .pass,
                  summary: "PostgreSQL \(running.values["server_version"] ?? "\(majorVersion)") read through --admin (its files are not readable here: views and pg_read_file stand in; the key is not checked)"),
        ]

        // The TLS files, copied through pg_read_file into a private directory and removed after.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-admin-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        func copy(_ setting: String) async -> String? {
            guard let value = running.values[setting], !value.isEmpty,
                  let text = try? await connection.query("SELECT pg_read_file($1)", [value]).first?[0].string else { return nil }
            let path = scratch + "/" + setting
            guard (try? text.write(toFile: path, atomically: false, encoding: .utf8)) != nil else { return nil }
            return path
        }
        let sslOn = reported.bool("ssl") == true
        var tls = ServerTLSInspector.Result()
        var copiedCA: String?, copiedCRL: String?
        if sslOn {
            let certificate = await copy("ssl_cert_file")
            copiedCA = await copy("ssl_ca_file")
            copiedCRL = await copy("ssl_crl_file")
            if certificate == nil {
                checks.append(.init(layer: .tls, id: "server-certificate", status: .skip,
                                    summary: "ssl_cert_file could not be read through pg_read_file (needs superuser or pg_read_server_files)"))
            }
            let inspector = ServerTLSInspector(configuration: reported, user: ServerOSUser.withID(getuid()), hostNames: request.hostNames,
                                               expiryWarningDays: request.expiryWarningDays, now: now)
            tls = inspector.inspectCopies(certificate: certificate, certificateName: running.values["ssl_cert_file"] ?? "",
                                          caFile: copiedCA, caName: running.values["ssl_ca_file"] ?? "", crlFile: copiedCRL)
        } else {
            tls.findings.append(.sslOff(origin: "server"))
        }
        findings += tls.findings

        // pg_hba.conf and pg_ident.conf: the files themselves, else the views.
        var hba: HBAFile
        var ident: IdentFile
        if let text = try? await connection.query("SELECT pg_read_file($1)", [hbaPath]).first?[0].string {
            hba = HBAFile.parse(text, path: hbaPath)
        } else {
            hba = HBAFile(rules: [], files: [hbaPath])
            let rows = try await connection.query("""
                SELECT line_number, type, database, user_name, address, netmask, auth_method, options, error
                FROM pg_hba_file_rules ORDER BY line_number
                """)
            for row in rows {
                if let error = row[8].string {
                    hba.errors.append(AuthFileError(file: hbaPath, line: row[0].int ?? 0, message: error))
                    continue
                }
                hba.rules.append(HBARule(fileRulesViewRow: row[0].int ?? 0, fileName: hbaPath, type: row[1].string ?? "host",
                                         database: AuthConfiguration.array(row[2].string), userName: AuthConfiguration.array(row[3].string),
                                         address: row[4].string, netmask: row[5].string, authMethod: row[6].string ?? "",
                                         options: AuthConfiguration.array(row[7].string)))
            }
        }
        if let text = try? await connection.query("SELECT pg_read_file($1)", [identPath]).first?[0].string {
            ident = IdentFile.parse(text, path: identPath)
        } else {
            ident = IdentFile(mappings: [], files: [identPath])
            if let rows = try? await connection.query(
                "SELECT line_number, map_name, sys_name, pg_username, error FROM pg_ident_file_mappings ORDER BY line_number") {
                for row in rows {
                    if let error = row[4].string {
                        ident.errors.append(AuthFileError(file: identPath, line: row[0].int ?? 0, message: error))
                        continue
                    }
                    ident.mappings.append(IdentMapping(fileMappingsViewRow: row[0].int ?? 0, fileName: identPath, mapName: row[1].string ?? "",
                                                       systemName: row[2].string ?? "", databaseUserName: row[3].string ?? ""))
                }
            }
        }
        hba = ServerAuthInspector.forVersion(hba, majorVersion: majorVersion)
        let caLoaded = !(running.values["ssl_ca_file"] ?? "").isEmpty
        findings += ServerAuthInspector(hba: hba, ident: ident, majorVersion: majorVersion, sslEnabled: sslOn, caLoaded: caLoaded).inspect()

        var login: ServerSetupCheck.LoginFacts?
        if let certificate = request.clientCertificate {
            // Verify against the copies of ssl_ca_file and ssl_crl_file.
            var local = reported
            local.entries.append(.init(name: "ssl_ca_file", value: copiedCA ?? "", file: "server", line: 0, source: .server))
            local.entries.append(.init(name: "ssl_crl_file", value: copiedCRL ?? "", file: "server", line: 0, source: .server))
            local.entries.append(.init(name: "ssl_crl_dir", value: "", file: "server", line: 0, source: .server))
            login = try ServerSetupCheck(now: now, logger: logger).predictLogin(
                request, certificate: certificate, configuration: local, tls: tls, hba: hba, ident: ident,
                caLoaded: caLoaded && copiedCA != nil, roleFacts: online.roleFacts, memberships: online.memberships)
        }
        let explainer = ServerSetupExplainer(majorVersion: majorVersion, dataDirectory: dataDirectory, configFile: configFile,
                                             hbaFile: hbaPath, identFile: identPath, osUser: "the server's OS user")
        let server = ServerSetupReport.Server(source: "admin", dataDirectory: dataDirectory, configFile: configFile, hbaFile: hbaPath,
                                              identFile: identPath, majorVersion: majorVersion, versionSource: "server",
                                              serverVersion: online.serverVersion, osUser: nil)
        let settings = ServerSetupCheck.reportedSettings.compactMap { name -> ServerSetupReport.Setting? in
            guard let value = running.values[name] else { return nil }
            return .init(name: name, value: value, origin: "server",
                         pendingValue: online.pending[name] == nil ? nil : online.findings.compactMap { finding -> String? in
                             if case .pendingReload(let list) = finding { return list.first { $0.name == name }?.inFiles }
                             return nil
                         }.first)
        }
        return ServerSetupCheck.assemble(findings: findings, login: login, explainer: explainer, server: server, checks: checks,
                                         settings: settings)
    }
}
