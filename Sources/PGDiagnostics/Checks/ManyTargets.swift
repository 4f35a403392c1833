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
        /// The name the line gives (`orders: host=…`), if any.
        public var name: String?
        public var options: ConnectionOptions

        public init(line: Int, name: String? = nil, options: ConnectionOptions) {
            self.line = line
            self.name = name
            self.options = options
        }

        /// What metrics and the exporter call this target: its name, else `user@host:port/dbname`
        /// as libpq resolves them (defaults and `PG*` variables filled in; never a secret).
        public var label: String {
            if let name { return name }
            let effective = options.effective()
            return Self.displayName(user: effective.user, host: effective.host.first, port: effective.port.first.map(String.init),
                              dbname: effective.dbname)
        }

        /// `user@host:port/dbname`, leaving out what is nil.
        public static func displayName(user: String?, host: String?, port: String?, dbname: String?) -> String {
            [user.map { "\($0)@" } ?? "", host ?? "?", port.map { ":\($0)" } ?? "", dbname.map { "/\($0)" } ?? ""].joined()
        }
    }

    /// Parses a targets file: one conninfo string or URI per line, optionally named by a
    /// `NAME: ` prefix (letters, digits, `_`, `.`, `-`; e.g. `orders: host=db1 dbname=orders`);
    /// `#` starts a comment line; blank lines are skipped.
    /// - Throws: `ConnectionError` naming the line when libpq cannot parse one, or when a name is
    ///   used twice.
    public static func parse(_ text: String, path: String = "targets") throws -> [Target] {
        var targets: [Target] = []
        var lineOfName: [String: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingScalars(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let name = Self.name(in: line)
            if let name {
                if let first = lineOfName[name] {
                    throw ConnectionError(code: .invalidConninfo, phase: .options,
                                          message: "\(path) line \(index + 1): the name \"\(name)\" is already used on line \(first); give each target its own name")
                }
                lineOfName[name] = index + 1
                line = String(line.dropFirst(name.count + 1)).trimmingScalars(in: .whitespaces)
            }
            do {
                targets.append(Target(line: index + 1, name: name, options: try ConnectionOptions(conninfo: String(line))))
            } catch let error as ConnectionError {
                throw ConnectionError(code: error.code, phase: .options, message: "\(path) line \(index + 1): \(error.message)")
            }
        }
        return targets
    }

    /// The `NAME` of a line that starts `NAME:` and a space. A conninfo never starts so: its
    /// first word holds `=`, and a URI's `postgresql:` is followed by `//`.
    static func name(in line: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        guard let colon = line.firstIndex(of: ":"), colon > line.startIndex,
              line[line.startIndex..<colon].allSatisfy(allowed.contains) else { return nil }
        let after = line.index(after: colon)
        guard after < line.endIndex, line[after] == " " || line[after] == "\t" else { return nil }
        return String(line[..<colon])
    }

    /// A report and how long its check took.
    public struct Result: Sendable {
        public var target: Target
        public var report: Report
        public var duration: Duration

        /// The target's name, else `user@host:port/dbname` as the report shows them.
        public var label: String {
            target.name ?? Target.displayName(user: report.target.user, host: report.target.host, port: report.target.port,
                                        dbname: report.target.dbname)
        }
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
