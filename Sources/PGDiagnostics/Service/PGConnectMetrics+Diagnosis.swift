import Metrics
import PGConnect

extension PGConnectMetrics {
    /// Metrics whose `pgconnect_connect_failures_total` counts failures by diagnosis code
    /// (`client-cert-expired`, `cert-name-mismatch`, … as in the README), read from libpq's
    /// message and the options by ``FailureExplainer`` — no extra connection, no probe.
    public static func diagnosing(dimensions: [(String, String)] = [], factory: (any MetricsFactory)? = nil) -> PGConnectMetrics {
        PGConnectMetrics(dimensions: dimensions, factory: factory) { error, options in
            FailureExplainer().diagnose(error, options: options).code.rawValue
        }
    }
}
