import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import Logging
import Metrics
import PGConnect
import PGDiagnostics
import Prometheus

/// `pgconnect-exporter`: a Prometheus exporter that checks certificate logins on request, the way
/// blackbox_exporter's `/probe` checks HTTP endpoints.
@main
struct Exporter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgconnect-exporter",
        abstract: "Serve certificate-login checks of PostgreSQL targets as Prometheus metrics.",
        discussion: """
            GET /probe?target=NAME checks the target called NAME (a name from --targets FILE, or a \
            service of libpq's service file with --allow-services) and answers with its metrics; \
            GET /metrics gives the exporter's own metrics; GET / lists the target names.
            """)

    @Option(help: ArgumentHelp("The targets file: one conninfo or URI per line, optionally named 'NAME: conninfo'.", valueName: "FILE"))
    var targets: String?

    @Flag(help: "Also probe services of libpq's service file (pg_service.conf) by name.")
    var allowServices = false

    @Option(help: "The address to listen on.")
    var listen = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port; the address is printed on stdout).")
    var port = 9958

    @Option(help: ArgumentHelp("Probes running at once, at most; more wait their turn.", valueName: "N"))
    var maxConcurrentProbes = 4

    @Option(help: ArgumentHelp("A target is probed at most once per this many seconds; requests in between get the last result.",
                               valueName: "SECONDS"))
    var minInterval = 10.0

    @Option(help: ArgumentHelp("How long one probe may take when the target sets no connect_timeout.", valueName: "SECONDS"))
    var timeout = 10

    @Option(help: ArgumentHelp("Warn when a certificate expires within this many days.", valueName: "DAYS"))
    var expiryWarning = 30

    @Flag(help: "Log at debug level (stderr).")
    var verbose = false

    func validate() throws {
        if targets == nil, !allowServices { throw ValidationError("give --targets FILE, --allow-services, or both") }
        if maxConcurrentProbes < 1 { throw ValidationError("--max-concurrent-probes must be 1 or more, not \(maxConcurrentProbes)") }
        if minInterval < 0 || !minInterval.isFinite { throw ValidationError("--min-interval must be 0 or more seconds, not \(minInterval)") }
        if timeout < 1 { throw ValidationError("--timeout must be 1 or more seconds, not \(timeout)") }
        if expiryWarning < 0 { throw ValidationError("--expiry-warning must be 0 or more days, not \(expiryWarning)") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0 to 65535, not \(port)") }
    }

    func run() async throws {
        let level: Logger.Level = verbose ? .debug : .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let known = try ExporterTargets(targets: try loadTargets(), allowServices: allowServices)
        let prober = Prober(targets: known,
                            checker: LoginChecker(timeout: .seconds(timeout), expiryWarningDays: expiryWarning,
                                                  logger: Logger(label: "pgconnect.exporter.check")),
                            scheduler: ProbeScheduler(maximumConcurrentProbes: maxConcurrentProbes,
                                                      minimumInterval: .milliseconds(Int64(minInterval * 1000))))

        let router = Router()
        router.get("/") { _, _ in prober.index() }
        router.get("/probe") { request, _ in await prober.respond(to: request.uri.queryParameters["target"].map(String.init)) }
        router.get("/metrics") { _, _ in Prober.text(registry.emitToString()) }
        let app = Application(router: router, configuration: .init(address: .hostname(listen, port: port), serverName: nil),
                              onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? 0
                                  // Unbuffered: a supervisor (or a test) reads the line at once.
                                  let line = Array("pgconnect-exporter: listening on http://\(listen):\(port)\n".utf8)
                                  _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                              },
                              logger: Logger(label: "pgconnect.exporter"))
        try await app.runService()
    }

    private func loadTargets() throws -> [ManyTargets.Target] {
        guard let targets else { return [] }
        guard let data = FileManager.default.contents(atPath: targets) else {
            throw ValidationError("cannot read --targets \(targets): check the path and its permissions")
        }
        do {
            return try ManyTargets.parse(String(decoding: data, as: UTF8.self), path: targets)
        } catch let error as ConnectionError {
            throw ValidationError(error.message)
        }
    }
}
