#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Metrics

/// The metrics PGConnect emits through swift-metrics; the application picks the backend
/// (`MetricsSystem.bootstrap`, e.g. swift-prometheus's `PrometheusMetricsFactory`).
///
/// Names and labels follow Prometheus conventions: base units (seconds), `_seconds` for
/// durations, `_total` for counters, `_timestamp_seconds` for points in time.
///
/// | name | type | labels | what |
/// |---|---|---|---|
/// | `pgconnect_connect_duration_seconds` | timer | `phase` (`dns`, `tcp`, `tls`, `authentication`, `total`) | each phase of a new connection that logged in |
/// | `pgconnect_connect_failures_total` | counter | `code` | new connections that failed, by code (see ``failureCode``) |
/// | `pgconnect_pool_connections` | gauge | | connections open: leased, being opened and idle |
/// | `pgconnect_pool_connections_in_use` | gauge | | connections leased or being opened for a lease |
/// | `pgconnect_pool_max_connections` | gauge | | the pool's limit |
/// | `pgconnect_pool_waiters` | gauge | | leases waiting for a connection |
/// | `pgconnect_pool_wait_duration_seconds` | timer | | how long a lease waited for its connection |
/// | `pgconnect_certificate_not_after_timestamp_seconds` | gauge | `certificate` (`client`, `server`), `file` (client only) | when the certificate in use expires, in seconds since the Unix epoch |
///
/// Every metric also carries ``dimensions`` (e.g. `[("pool", "orders")]`) so that several pools
/// in one process stay apart. Labels never hold a secret: no conninfo, no password, no key.
public struct PGConnectMetrics: Sendable {
    /// The metric names (stable: dashboards and alerts use them).
    public enum Name {
        public static let connectDuration = "pgconnect_connect_duration_seconds"
        public static let connectFailures = "pgconnect_connect_failures_total"
        public static let poolConnections = "pgconnect_pool_connections"
        public static let poolConnectionsInUse = "pgconnect_pool_connections_in_use"
        public static let poolMaxConnections = "pgconnect_pool_max_connections"
        public static let poolWaiters = "pgconnect_pool_waiters"
        public static let poolWaitDuration = "pgconnect_pool_wait_duration_seconds"
        public static let certificateNotAfter = "pgconnect_certificate_not_after_timestamp_seconds"
    }

    /// Labels added to every metric.
    public var dimensions: [(String, String)]
    /// The backend; `nil` uses `MetricsSystem.factory` (whatever the application bootstrapped).
    public var factory: (any MetricsFactory)?
    /// The `code` label of a failed connect. The default is the ``ConnectionError/Code`` (e.g.
    /// `authentication-failed`); `PGDiagnostics` offers `PGConnectMetrics.diagnosing`, which
    /// labels with the diagnosis code (e.g. `client-cert-expired`).
    public var failureCode: @Sendable (ConnectionError, ConnectionOptions) -> String

    /// Metrics with `dimensions` on every series, sent to `factory` (default: the bootstrapped one).
    public init(dimensions: [(String, String)] = [], factory: (any MetricsFactory)? = nil,
                failureCode: @escaping @Sendable (ConnectionError, ConnectionOptions) -> String = { error, _ in error.code.rawValue }) {
        self.dimensions = dimensions
        self.factory = factory
        self.failureCode = failureCode
    }

    private var resolvedFactory: any MetricsFactory { factory ?? MetricsSystem.factory }

    /// Records the phases of a connection that logged in.
    public func recordConnected(_ timings: ConnectionTimings) {
        for (phase, duration) in timings.phaseDurations {
            Timer(label: Name.connectDuration, dimensions: dimensions + [("phase", phase)], factory: resolvedFactory)
                .record(duration: duration)
        }
    }

    /// Counts a failed connect under its code.
    public func recordFailure(_ error: ConnectionError, options: ConnectionOptions) {
        Counter(label: Name.connectFailures, dimensions: dimensions + [("code", failureCode(error, options))], factory: resolvedFactory)
            .increment()
    }

    /// Records when a certificate in use expires (`certificate` is `client` or `server`; `file`
    /// names the client certificate's file).
    public func recordCertificateNotAfter(_ notAfter: Date, certificate: String, file: String? = nil) {
        var labels = dimensions + [("certificate", certificate)]
        if let file { labels.append(("file", file)) }
        Gauge(label: Name.certificateNotAfter, dimensions: labels, factory: resolvedFactory).record(notAfter.timeIntervalSince1970)
    }

    /// Records the pool's state.
    func recordPool(open: Int, inUse: Int, waiters: Int, maximum: Int) {
        let factory = resolvedFactory
        Gauge(label: Name.poolConnections, dimensions: dimensions, factory: factory).record(open)
        Gauge(label: Name.poolConnectionsInUse, dimensions: dimensions, factory: factory).record(inUse)
        Gauge(label: Name.poolWaiters, dimensions: dimensions, factory: factory).record(waiters)
        Gauge(label: Name.poolMaxConnections, dimensions: dimensions, factory: factory).record(maximum)
    }

    /// Records how long a lease waited for its connection.
    func recordWait(_ duration: Duration) {
        Timer(label: Name.poolWaitDuration, dimensions: dimensions, factory: resolvedFactory).record(duration: duration)
    }
}
