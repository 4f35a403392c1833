import PGConnect

/// The readiness check a service exposes on its health endpoint: the same report
/// `pgconnect-check` prints, as a value (nothing is printed).
///
/// ```swift
/// let report = await PGDiagnostics.check(options)
/// return report.ok ? .ok : .serviceUnavailable(report.diagnosis?.code.rawValue ?? "")
/// ```
public func check(_ options: ConnectionOptions, timeout: Duration = .seconds(10), expiryWarningDays: Int = 30) async -> Report {
    await LoginChecker(timeout: timeout, expiryWarningDays: expiryWarningDays).check(options)
}
