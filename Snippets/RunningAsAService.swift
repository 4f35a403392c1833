// The ServiceGroup and metrics snippets of PGConnect's "Getting started" article. Compiled by
// `swift build`; run against the test server by GettingStartedTests (hidden lines point it there).
import Logging
import Metrics
import PGConnect
import PGDiagnostics
import ServiceLifecycle

// snippet.hide
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
var options = ConnectionOptions()
options.host = [environment["SNIPPET_HOST"] ?? "db.internal"]
options.port = [environment["SNIPPET_PORT"].flatMap(Int.init) ?? 5432]
options.dbname = "postgres"
options.user = "alice"
options.sslmode = .verifyFull
let pki = environment["SNIPPET_PKI"] ?? "/etc/app/tls"
options.sslrootcert = "\(pki)/root.crt"
options.sslcert = "\(pki)/alice.crt"
options.sslkey = "\(pki)/alice.key"
let certificatePath = "\(pki)/alice.crt"
let logger = Logger(label: "app")

/// The application's own service: one lease, then (in this snippet only) SIGTERM to itself.
struct App: Service {
    let pool: ConnectionPool
    func run() async throws {
        let answer = try await pool.withConnection { try await $0.query("SELECT 42")[0][0].int ?? 0 }
        print("leased:", answer)
        kill(getpid(), SIGTERM)
        try? await gracefulShutdown()
    }
}
// snippet.show

// snippet.metrics
// At start-up, once: MetricsSystem.bootstrap(PrometheusMetricsFactory()) or another backend.
let metrics = PGConnectMetrics.diagnosing(dimensions: [("pool", "orders")])
// snippet.end

// snippet.service
let pool = ConnectionPool(options: options, configuration: .init(maximumConnections: 4, metrics: metrics))
let watcher = CertificateExpiryWatcher(path: certificatePath, warningDays: 14, interval: .seconds(3600), metrics: metrics)
let app = App(pool: pool)
// Listed before the pool, so the group stops your service first and the pool last.
let group = ServiceGroup(services: [app, watcher, pool], gracefulShutdownSignals: [.sigterm], logger: logger)
try await group.run()
// snippet.end
print("shut down; open connections:", await pool.openConnections)
