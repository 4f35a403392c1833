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
import PGConnect
import PGDiagnostics

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Check a server's certificate-login setup by the server's own rules.",
        discussion: """
            Reads postgresql.conf (with its includes, postgresql.auto.conf and -c overrides), the TLS \
            files and pg_hba.conf/pg_ident.conf as the server would, as the OS user it runs as, and \
            says what the server will do: refuse to start, keep the previous files on reload, never \
            ask for a certificate, refuse logins. With --client-cert FILE --user ROLE: whether that \
            certificate logs in. With --admin CONNINFO: the running server's own view.

            Exit status: 0 ready (with --client-cert: the certificate logs in); 1 logins refused; \
            2 no usable TLS connection; 3 the server will refuse to start (a reload keeps the \
            previous configuration); 64 usage error.
            """
    )

    @Argument(help: ArgumentHelp("The data directory (or the configuration directory holding postgresql.conf), as for postgres -D.", valueName: "DATADIR"))
    var directory: String?

    @Option(help: ArgumentHelp("postgresql.conf, as for postgres --config-file (default: DATADIR/postgresql.conf).", valueName: "FILE"))
    var config: String?

    @Option(name: .customShort("c"), help: ArgumentHelp("A setting as on the server's command line (repeatable).", valueName: "NAME=VALUE"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("The PostgreSQL major version whose rules apply (default: DATADIR/PG_VERSION).", valueName: "N"))
    var pgVersion: Int?

    @Option(help: ArgumentHelp("The OS user the server runs as (default: the data directory's owner).", valueName: "USER"))
    var osUser: String?

    @Option(help: ArgumentHelp("A host name or address clients use with sslmode=verify-full (repeatable).", valueName: "HOST"))
    var name: [String] = []

    @Option(help: ArgumentHelp("Will this certificate (PEM, leaf first) log in? Needs --user.", valueName: "FILE"))
    var clientCert: String?

    @Option(name: [.customShort("U"), .long], help: ArgumentHelp("The role the certificate should log in as.", valueName: "ROLE"))
    var user: String?

    @Option(name: [.customShort("d"), .long], help: ArgumentHelp("The database (default: the role's name, as libpq's).", valueName: "DB"))
    var database: String?

    @Option(help: ArgumentHelp("The client address the server sees (default 127.0.0.1).", valueName: "ADDR"))
    var clientAddr: String?

    @Option(help: ArgumentHelp("A superuser (or pg_read_all_settings + pg_read_server_files) connection: check the running server's view.", valueName: "CONNINFO"))
    var admin: String?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: ArgumentHelp("Warn about certificates expiring within DAYS days.", valueName: "DAYS"))
    var expiryWarning: Int = 30

    @Flag(name: [.customShort("q"), .long], help: "Print nothing; the exit status says it all.")
    var quiet = false

    func validate() throws {
        if directory == nil, config == nil, admin == nil {
            throw ValidationError("give the data directory (pgconnect-check server /var/lib/postgresql/15/main), --config FILE, or --admin CONNINFO")
        }
        if clientCert != nil, user == nil { throw ValidationError("--client-cert needs --user ROLE: the role the certificate should log in as") }
        if clientCert == nil, user != nil || database != nil || clientAddr != nil {
            throw ValidationError("--user, --database and --client-addr describe a login: give --client-cert FILE too")
        }
        if let clientAddr, HostnameMatcher.ipBytes(clientAddr) == nil {
            throw ValidationError("--client-addr must be an IP address, not \(clientAddr)")
        }
        for override in overrides where !override.contains("=") || override.hasPrefix("=") {
            throw ValidationError("-c \(override): give NAME=VALUE, e.g. -c ssl=on")
        }
        if expiryWarning < 0 { throw ValidationError("--expiry-warning must be 0 or more days, not \(expiryWarning)") }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        var request = ServerSetupCheck.Request()
        request.directory = directory
        request.configFile = config
        request.overrides = overrides.map { text in
            let equals = text.firstIndex(of: "=")!
            return .init(name: String(text[..<equals]), value: String(text[text.index(after: equals)...]))
        }
        request.majorVersion = pgVersion
        request.osUser = osUser
        request.hostNames = name
        request.expiryWarningDays = expiryWarning
        request.clientCertificate = clientCert
        request.user = user
        request.database = database
        request.clientAddress = clientAddr
        if let admin {
            do {
                request.admin = try ConnectionOptions(conninfo: admin)
            } catch let error as ConnectionError {
                throw ValidationError("--admin: \(error.primaryMessage)")
            }
        }
        let report: ServerSetupReport
        do {
            report = try await ServerSetupCheck().run(request)
        } catch let error as ServerSetupCheck.InputError {
            throw ValidationError(error.message)
        }
        if quiet { throw ExitCode(report.exitStatus) }
        switch format {
        case .json:
            print(ServerSetupJSONRenderer().render(report))
        case .text:
            let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
            let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) } ?? 96
            print(ServerSetupTextRenderer(colour: colour, width: columns).render(report), terminator: "")
        }
        throw ExitCode(report.exitStatus)
    }
}
