import ArgumentParser
import Foundation
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

    @Option(help: ArgumentHelp("Seconds to wait for the connection (libpq 'connect_timeout'; default 30).", valueName: "SECONDS"))
    var connectTimeout: Int?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: ArgumentHelp("Warn about certificates expiring within DAYS days.", valueName: "DAYS"))
    var expiryWarning: Int = 30

    @Flag(name: .long, help: "Log connection events to standard error.")
    var verbose = false

    func validate() throws {
        if let connectTimeout, connectTimeout <= 0 {
            throw ValidationError("--connect-timeout must be a positive number of seconds, not \(connectTimeout)")
        }
        if expiryWarning < 0 { throw ValidationError("--expiry-warning must be 0 or more days, not \(expiryWarning)") }
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

        let report: Report
        switch try buildOptions() {
        case .success(let options):
            let timeout = Duration.seconds(connectTimeout ?? 30)
            report = await LoginChecker(timeout: timeout, expiryWarningDays: expiryWarning).check(options)
        case .failure(let error):
            report = Report(ok: false,
                            target: Report.Target(host: host, port: port, user: user, dbname: dbname, sslmode: sslmode, conninfo: ""),
                            checks: [.init(layer: .config, id: "options", status: .fail, summary: error.primaryMessage)],
                            diagnosis: FailureExplainer().diagnose(error, options: ConnectionOptions()))
        }

        switch format {
        case .json:
            print(JSONReportRenderer().render(report))
        case .text:
            let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            print(TextReportRenderer(colour: colour).render(report), terminator: "")
        }
        throw ExitCode(report.exitStatus)
    }

    /// The conninfo argument with the command-line options laid over it.
    private func buildOptions() throws -> Result<ConnectionOptions, ConnectionError> {
        var options: ConnectionOptions
        do {
            options = try conninfo.map { try ConnectionOptions(conninfo: $0) } ?? ConnectionOptions()
        } catch let error as ConnectionError {
            return .failure(error)
        }
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
        return .success(options)
    }
}
