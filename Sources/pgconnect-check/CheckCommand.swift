#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect
import PGDiagnostics

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a certificate login (the default subcommand).",
        discussion: """
            CONNINFO is a libpq keyword/value string or a postgresql:// URI. Options override the same \
            keywords; libpq's PG* environment variables and defaults fill in the rest, as in psql.

            Exit status: 0 connected; 1 the server refused the login; 2 no usable connection \
            (network, TLS); 3 the local setup cannot work (options, client files); 64 usage error.
            """
    )

    @Argument(help: "A conninfo string or postgresql:// URI.")
    var conninfo: String?

    @Option(name: [.customShort("h"), .long], help: "Server host name, address or socket directory (libpq 'host').")
    var host: String?

    @Option(name: [.customShort("p"), .long], help: "Server port (libpq 'port').")
    var port: String?

    @Option(name: [.customShort("U"), .long], help: "Role to log in as (libpq 'user').")
    var user: String?

    @Option(name: [.customShort("d"), .long], help: "Database (libpq 'dbname').")
    var dbname: String?

    @Option(help: "disable, allow, prefer, require, verify-ca or verify-full.")
    var sslmode: String?

    @Option(help: "Client certificate file (PEM).")
    var sslcert: String?

    @Option(help: "Client private key file.")
    var sslkey: String?

    @Option(help: "CA certificates that verify the server.")
    var sslrootcert: String?

    @Option(help: "Certificate revocation list for the server's chain.")
    var sslcrl: String?

    @Option(help: ArgumentHelp("Read the encrypted key's passphrase from FILE (never echoed).", valueName: "FILE"))
    var sslpasswordFile: String?

    @Option(help: ArgumentHelp("libpq's 'connect_timeout': seconds for each host attempt, as in psql (default: the conninfo's, the service's or PGCONNECT_TIMEOUT; with none, libpq waits within an overall limit of 30 s).", valueName: "SECONDS"))
    var connectTimeout: Int?

    @Option(help: ArgumentHelp("A copy of the server's pg_hba.conf: simulate which line decides the login.", valueName: "FILE"))
    var hba: String?

    @Option(help: ArgumentHelp("A copy of the server's pg_ident.conf, for map= lines.", valueName: "FILE"))
    var ident: String?

    @Option(help: ArgumentHelp("The client address the server sees (default: this machine's source address toward it).", valueName: "ADDR"))
    var clientAddr: String?

    @Option(help: ArgumentHelp("A superuser (or pg_read_server_files) connection: read the server's own pg_hba.conf, pg_ident.conf, roles and privileges.", valueName: "CONNINFO"))
    var admin: String?

    @Option(help: ArgumentHelp("Check every conninfo in FILE (one per line, # comments), concurrently.", valueName: "FILE"))
    var targets: String?

    @Option(help: ArgumentHelp("With --targets: checks at a time (default: 4 per core; a check mostly waits for the server).", valueName: "N"))
    var jobs: Int?

    @Flag(help: "Do not connect: check the local files and simulate pg_hba.conf/pg_ident.conf only.")
    var noConnect = false

    @Flag(name: [.customShort("q"), .long], help: "Print nothing; the exit status says it all.")
    var quiet = false

    @Option(help: "Output format: text, json or openmetrics (Prometheus metrics, e.g. for node_exporter's textfile collector).")
    var format: CheckOutputFormat = CheckRequest().format

    @Option(help: ArgumentHelp("Warn about certificates expiring within DAYS days.", valueName: "DAYS"))
    var expiryWarning: Int = CheckRequest().expiryWarning

    @Flag(name: [.customShort("v"), .long], help: "Log connection events to standard error.")
    var verbose = false

    /// The parsed command line as plain values.
    var request: CheckRequest {
        CheckRequest(conninfo: conninfo, host: host, port: port, user: user, dbname: dbname, sslmode: sslmode,
                     sslcert: sslcert, sslkey: sslkey, sslrootcert: sslrootcert, sslcrl: sslcrl,
                     sslpasswordFile: sslpasswordFile, connectTimeout: connectTimeout, hba: hba, ident: ident,
                     clientAddr: clientAddr, admin: admin, targets: targets, jobs: jobs, noConnect: noConnect,
                     quiet: quiet, format: format, expiryWarning: expiryWarning, verbose: verbose)
    }

    func validate() throws { try request.validate() }

    func run() async throws { try await request.run() }
}

/// What `pgconnect-check [check]` was asked to do, as plain values (``CheckCommand`` is its
/// command-line form; its defaults are these), and doing it.
struct CheckRequest: Equatable {
    var conninfo: String? = nil
    var host: String? = nil
    var port: String? = nil
    var user: String? = nil
    var dbname: String? = nil
    var sslmode: String? = nil
    var sslcert: String? = nil
    var sslkey: String? = nil
    var sslrootcert: String? = nil
    var sslcrl: String? = nil
    var sslpasswordFile: String? = nil
    var connectTimeout: Int? = nil
    var hba: String? = nil
    var ident: String? = nil
    var clientAddr: String? = nil
    var admin: String? = nil
    var targets: String? = nil
    var jobs: Int? = nil
    var noConnect = false
    var quiet = false
    var format: CheckOutputFormat = .text
    var expiryWarning = 30
    var verbose = false

    /// How long a check waits for libpq's attempt when no `connect_timeout` is set (README).
    static let overallLimit: Duration = .seconds(30)

    func validate() throws {
        if let connectTimeout, connectTimeout <= 0 {
            throw ValidationError("--connect-timeout must be a positive number of seconds, not \(connectTimeout)")
        }
        if expiryWarning < 0 { throw ValidationError("--expiry-warning must be 0 or more days, not \(expiryWarning)") }
        if ident != nil, hba == nil { throw ValidationError("--ident needs --hba: the map is only used through a pg_hba.conf line") }
        if hba != nil, admin != nil { throw ValidationError("give either --hba/--ident (files) or --admin (the server's own), not both") }
        if let clientAddr, HostnameMatcher.ipBytes(clientAddr) == nil {
            throw ValidationError("--client-addr must be an IP address, not \(clientAddr)")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be 1 or more, not \(jobs)") }
        if targets != nil, conninfo != nil { throw ValidationError("give either CONNINFO or --targets FILE, not both") }
    }

    func run() async throws {
        // A closed stdout (pgconnect-check | head) must not kill the process mid-report.
        signal(SIGPIPE, SIG_IGN)
        let verbose = self.verbose
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = verbose ? .debug : .warning
            return handler
        }

        if let targets {
            try await runTargets(targets)
            return
        }
        let report: Report
        let started = ContinuousClock.now
        switch try buildOptions() {
        case .success(let options):
            // One check and nothing else in this process: its connection may wait on this thread.
            var checker = try checker()
            checker.inlineWait = checker.timeout
            report = await checker.check(options)
        case .failure(let error):
            report = Report(outcome: .localSetup,
                            target: Report.Target(host: host, port: port, user: user, dbname: dbname, sslmode: sslmode, conninfo: ""),
                            checks: [.init(layer: .config, id: "options", status: .fail, summary: error.primaryMessage)],
                            diagnosis: FailureExplainer().diagnose(error, options: ConnectionOptions()))
        }

        if quiet { throw ExitCode(report.exitStatus) }
        switch format {
        case .openmetrics:
            let target = ManyTargets.Target.displayName(user: report.target.user, host: report.target.host, port: report.target.port,
                                                  dbname: report.target.dbname)
            let families = ProbeMetrics.families(report, duration: .now - started, labels: [.init("target", target)])
            print(OpenMetricsRenderer().render(families), terminator: "")
        case .json:
            print(JSONReportRenderer().render(report))
        case .text:
            let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 96
            print(TextReportRenderer(colour: colour, width: columns).render(report), terminator: "")
        }
        throw ExitCode(report.exitStatus)
    }

    /// `--targets FILE`: a table (text) or one JSON report per line; the exit status is the worst.
    private func runTargets(_ path: String) async throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read --targets \(path): check the path and its permissions")
        }
        let parsed: [ManyTargets.Target]
        do {
            parsed = try ManyTargets.parse(String(decoding: data, as: UTF8.self), path: path)
        } catch let error as ConnectionError {
            throw ValidationError(error.message)
        }
        let withOverrides = try parsed.map { target -> ManyTargets.Target in
            var target = target
            target.options = try apply(to: target.options)
            return target
        }
        // A check spends most of its time waiting for the network and the server: 4 per core keep
        // the cores busy (50 local targets on 2 cores: 8 jobs take 0.85 of the time 2 jobs take).
        let results = await ManyTargets.check(withOverrides, jobs: jobs ?? 4 * ProcessInfo.processInfo.activeProcessorCount,
                                              checker: try checker())
        let status = ManyTargets.exitStatus(results)
        if quiet { throw ExitCode(status) }
        switch format {
        case .openmetrics:
            let families = ProbeMetrics.merge(results.map { result in
                ProbeMetrics.families(result.report, duration: result.duration, labels: [.init("target", result.label)])
            })
            print(OpenMetricsRenderer().render(families), terminator: "")
        case .json:
            for result in results { print(JSONReportRenderer(pretty: false).render(result.report)) }
        case .text:
            print(ManyTargets.table(results), terminator: "")
        }
        throw ExitCode(status)
    }

    /// The checker the options describe.
    private func checker() throws -> LoginChecker {
        var authSource: AuthConfiguration.Source?
        if let hba { authSource = .files(hba: hba, ident: ident) }
        if let admin {
            do {
                authSource = .admin(try ConnectionOptions(conninfo: admin))
            } catch let error as ConnectionError {
                throw ValidationError("--admin: \(error.primaryMessage)")
            }
        }
        // The overall limit applies only when no connect_timeout is set anywhere; --connect-timeout
        // sets libpq's keyword itself (see apply(to:)).
        return LoginChecker(timeout: Self.overallLimit, expiryWarningDays: expiryWarning, authSource: authSource,
                            clientAddress: clientAddr, connects: !noConnect)
    }

    /// The conninfo argument with the command-line options laid over it.
    private func buildOptions() throws -> Result<ConnectionOptions, ConnectionError> {
        let options: ConnectionOptions
        do {
            options = try conninfo.map { try ConnectionOptions(conninfo: $0) } ?? ConnectionOptions()
        } catch let error as ConnectionError {
            return .failure(error)
        }
        return .success(try apply(to: options))
    }

    /// Lays the command-line options over `options`.
    private func apply(to options: ConnectionOptions) throws -> ConnectionOptions {
        var options = options
        let overrides: [(String, String?)] = [
            ("host", host), ("port", port), ("user", user), ("dbname", dbname), ("sslmode", sslmode),
            ("sslcert", sslcert), ("sslkey", sslkey), ("sslrootcert", sslrootcert), ("sslcrl", sslcrl),
            ("connect_timeout", connectTimeout.map(String.init)),
        ]
        for (keyword, value) in overrides where value != nil { options[keyword] = value }
        if let sslpasswordFile {
            options.sslpassword = try PassphraseFile.read(sslpasswordFile)
        }
        if options["application_name"] == nil, ProcessInfo.processInfo.environment["PGAPPNAME"] == nil {
            options.applicationName = "pgconnect-check"
        }
        return options
    }
}

extension CheckRequest {
    /// The words ArgumentParser reads as a subcommand rather than a conninfo: the subcommands and
    /// its `help` (written out: reading `Tool.configuration` costs start-up; a test compares them).
    static let commandWords: Set<String> = ["check", "explain", "inspect", "server", "help"]

    /// The request of a command line that is one conninfo string or URI and nothing else — the
    /// everyday `pgconnect-check "host=… sslmode=verify-full …"` — read without building the
    /// command-line parser (milliseconds of start-up); nil for anything else (options, a
    /// subcommand name, help), which ArgumentParser reads. Both read such a line alike (tested).
    init?(soleConninfo arguments: [String]) {
        guard arguments.count == 1, let only = arguments.first, !only.isEmpty, !only.hasPrefix("-"),
              !Self.commandWords.contains(only) else { return nil }
        self.init(conninfo: only)
    }
}
