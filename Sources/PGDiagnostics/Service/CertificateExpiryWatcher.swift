#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import PGConnect
import ServiceLifecycle

/// Watches a client certificate file for a service: logs a warning when it expires within
/// ``warningDays`` days and an error once it has expired.
///
/// libpq reads `sslcert` and `sslkey` again for every new connection, so replacing the files
/// (certificate rotation) takes effect on the next connection; ``ConnectionPool`` also closes
/// its idle connections when the files change. The watcher only tells you in time.
///
/// Each check also records the certificate's not-after time as the gauge
/// `pgconnect_certificate_not_after_timestamp_seconds{certificate="client",file=PATH}`
/// (`PGConnectMetrics`), so an alert can fire before the certificate expires.
///
/// It is a swift-service-lifecycle `Service`: in a `ServiceGroup` it checks every ``interval``
/// until a graceful shutdown or cancellation.
///
/// ```swift
/// let watcher = CertificateExpiryWatcher(path: "/etc/app/tls/app.crt", warningDays: 14, logger: logger)
/// let group = ServiceGroup(services: [pool, watcher], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct CertificateExpiryWatcher: Sendable, Service {
    /// What the watcher found.
    public enum Status: Sendable, Hashable {
        case valid(expires: Date, daysLeft: Int)
        case expiringSoon(expires: Date, daysLeft: Int)
        case expired(since: Date)
        case unreadable(String)
    }

    /// The certificate file (PEM; the first certificate is the one libpq sends).
    public var path: String
    /// Warn when the certificate expires within this many days.
    public var warningDays: Int
    /// How often ``run()`` checks.
    public var interval: Duration
    /// Where the not-after time is recorded.
    public var metrics: PGConnectMetrics
    public var logger: Logger

    /// A watcher of the certificate at `path`.
    public init(path: String, warningDays: Int = 30, interval: Duration = .seconds(3600), metrics: PGConnectMetrics = PGConnectMetrics(),
                logger: Logger = Logger(label: "pgconnect.certificate")) {
        self.path = path
        self.warningDays = warningDays
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    /// Reads the certificate (the first in the file) and logs when it needs attention.
    @discardableResult
    public func check(now: Date = Date()) -> Status {
        let status = Self.status(path: path, warningDays: warningDays, now: now)
        switch status {
        case .valid(let notAfter, _), .expiringSoon(let notAfter, _), .expired(let notAfter):
            metrics.recordCertificateNotAfter(notAfter, certificate: "client", file: path)
        case .unreadable:
            break
        }
        var metadata: Logger.Metadata = ["pgconnect.certificate": "\(path)"]
        switch status {
        case .valid(let expires, _):
            metadata["pgconnect.not_after"] = "\(LoginChecker.iso8601(expires))"
            logger.debug("client certificate valid", metadata: metadata)
        case .expiringSoon(let expires, let days):
            metadata["pgconnect.not_after"] = "\(LoginChecker.iso8601(expires))"
            logger.warning("client certificate expires in \(days) day\(days == 1 ? "" : "s"); renew it before logins fail",
                           metadata: metadata)
        case .expired(let since):
            metadata["pgconnect.not_after"] = "\(LoginChecker.iso8601(since))"
            logger.error("client certificate has expired; certificate logins fail until it is renewed", metadata: metadata)
        case .unreadable(let reason):
            logger.error("client certificate cannot be read: \(reason)", metadata: metadata)
        }
        return status
    }

    /// Checks every `interval` until the task is cancelled.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            check()
            try? await Task.sleep(for: interval)
        }
    }

    /// Checks every ``interval`` until a graceful shutdown or cancellation (the `Service` entry point).
    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            check()
            // The sleep ends early on a graceful shutdown or cancellation; either ends the loop.
            let interval = self.interval
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    static func status(path: String, warningDays: Int, now: Date) -> Status {
        if let problem = FileInspector.readableProblem(path) { return .unreadable(problem) }
        guard let leaf = PEMFile.certificates(atPath: path).certificates.first, let notAfter = leaf.info.notAfter else {
            return .unreadable("\(path) holds no PEM certificate")
        }
        if notAfter <= now { return .expired(since: notAfter) }
        let days = Int(notAfter.timeIntervalSince(now) / 86400)
        return days < warningDays ? .expiringSoon(expires: notAfter, daysLeft: days) : .valid(expires: notAfter, daysLeft: days)
    }
}
