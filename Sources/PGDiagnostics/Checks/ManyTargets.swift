#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PGConnect

/// Checking many logins at once (`pgconnect-check --targets FILE`).
public enum ManyTargets {
    /// One line of a targets file.
    public struct Target: Sendable {
        public var line: Int
        public var options: ConnectionOptions
    }

    /// Parses a targets file: one conninfo string or URI per line; `#` starts a comment line;
    /// blank lines are skipped.
    /// - Throws: `ConnectionError` naming the line when libpq cannot parse one.
    public static func parse(_ text: String, path: String = "targets") throws -> [Target] {
        var targets: [Target] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingScalars(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                targets.append(Target(line: index + 1, options: try ConnectionOptions(conninfo: String(line))))
            } catch let error as ConnectionError {
                throw ConnectionError(code: error.code, phase: .options, message: "\(path) line \(index + 1): \(error.message)")
            }
        }
        return targets
    }

    /// A report and how long its check took.
    public struct Result: Sendable {
        public var target: Target
        public var report: Report
        public var duration: Duration
    }

    /// Checks every target with at most `jobs` checks at a time; results in input order. Targets
    /// that use the same client files share one inspection of them.
    public static func check(_ targets: [Target], jobs: Int, checker: LoginChecker) async -> [Result] {
        let jobs = max(1, jobs)
        var shared = checker
        if targets.count > 1 { shared.filesCache = ClientFilesCache() }
        let checker = shared
        return await withTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: targets.count)
            var next = 0
            func start(_ index: Int) {
                let target = targets[index]
                group.addTask {
                    let started = ContinuousClock.now
                    let report = await checker.check(target.options)
                    return (index, Result(target: target, report: report, duration: .now - started))
                }
            }
            while next < min(jobs, targets.count) {
                start(next)
                next += 1
            }
            for await (index, result) in group {
                results[index] = result
                if next < targets.count {
                    start(next)
                    next += 1
                }
            }
            return results.compactMap { $0 }
        }
    }

    /// The worst exit status (0 best, then 4, 1, 2; 3 worst).
    public static func exitStatus(_ results: [Result]) -> Int32 {
        // Worst first: local setup (3), unreachable (2), refused (1), not attempted (4), connected (0).
        let rank: [Int32: Int] = [0: 0, 4: 1, 1: 2, 2: 3, 3: 4]
        return results.map(\.report.exitStatus).max { rank[$0, default: 5] < rank[$1, default: 5] } ?? 0
    }

    /// A table for people: target, ok, code, time.
    public static func table(_ results: [Result]) -> String {
        let rows = results.map { result -> [String] in
            let report = result.report
            let target = [report.target.user.map { "\($0)@" } ?? "", report.target.host ?? "?", report.target.port.map { ":\($0)" } ?? "",
                          report.target.dbname.map { "/\($0)" } ?? ""].joined()
            return [String(result.target.line), target, report.ok ? "ok" : report.exitStatus == 4 ? "not attempted" : "FAIL", report.diagnosis?.code.rawValue ?? (report.warnings.isEmpty ? "" : "warnings: \(report.warnings.map(\.code.rawValue).joined(separator: ","))"),
                    TextLayout.fixed(result.duration.milliseconds, fractionDigits: 1)]
        }
        let header = ["line", "target", "ok", "code", "ms"]
        let widths = (0..<header.count).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func render(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                column == row.count - 1 ? String(repeating: " ", count: widths[column] - cell.count) + cell
                    : TextLayout.padded(cell, to: widths[column])
            }.joined(separator: "  ")
        }
        var lines = [render(header)]
        lines += rows.map(render)
        let passed = results.filter(\.report.ok).count
        let notAttempted = results.filter { $0.report.exitStatus == 4 }.count
        let failed = results.count - passed - notAttempted
        lines.append("\(results.count) targets, \(passed) ok, \(failed) failed" + (notAttempted > 0 ? ", \(notAttempted) not attempted" : ""))
        return lines.joined(separator: "\n") + "\n"
    }
}
