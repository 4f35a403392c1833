import Foundation

/// The test server's log (`server.log`, the postmaster's stderr with `log_line_prefix = '%m [%p] '`
/// and `log_connections = on`, as scripts/cluster.sh writes postgresql.conf), read to find the lines
/// the server wrote for one client's connections.
///
/// Attribution: every backend's first line is `connection received: host=… port=…`; the lines of
/// the backends whose first line falls after an offset are that window's connections. Lines of
/// other processes (the postmaster's reload messages, checkpoints) are left out.
public struct ServerLog: Sendable {
    /// One log entry: a line with the prefix, plus its continuation lines (a multi-line DETAIL goes
    /// on in lines that start with a tab).
    public struct Entry: Sendable, Equatable {
        /// `2025-01-01 00:00:00.000 UTC`
        public var timestamp: String
        public var pid: Int
        /// The rest of the first line after `[pid] `, e.g. `LOG:  connection received: …`.
        public var message: String
        /// The continuation lines, without their line breaks.
        public var continuation: [String]

        public init(timestamp: String, pid: Int, message: String, continuation: [String]) {
            self.timestamp = timestamp
            self.pid = pid
            self.message = message
            self.continuation = continuation
        }

        /// The entry as the log has it.
        public var text: String { (["\(timestamp) [\(pid)] \(message)"] + continuation).joined(separator: "\n") }
    }

    public let path: String

    public init(path: String) { self.path = path }

    /// The log's size in bytes now: the offset to read a later window from.
    public func offset() -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.uint64Value ?? 0
    }

    /// The entries written after `offset`.
    public func entries(after offset: UInt64) -> [Entry] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let data = (try? handle.readToEnd()) ?? Data()
        var entries: [Entry] = []
        let prefix = try! NSRegularExpression(pattern: #"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+) \[(\d+)\] (.*)$"#)
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            let text = String(line)
            let range = NSRange(text.startIndex..., in: text)
            if let match = prefix.firstMatch(in: text, range: range), let timestamp = Range(match.range(at: 1), in: text),
               let pid = Range(match.range(at: 2), in: text).flatMap({ Int(text[$0]) }), let message = Range(match.range(at: 3), in: text) {
                entries.append(Entry(timestamp: String(text[timestamp]), pid: pid, message: String(text[message]), continuation: []))
            } else if !text.isEmpty, !entries.isEmpty {
                entries[entries.count - 1].continuation.append(text)
            }
        }
        return entries
    }

    /// The entries of the connections that began after `offset`, once their backends have exited
    /// (so that every line they write is in): call it after the client is done.
    public func connectionEntries(after offset: UInt64, timeout: Duration = .seconds(5)) -> [Entry] {
        // A backend forked for a connection the client just closed may not have written its first line yet.
        usleep(50_000)
        let deadline = ContinuousClock.now + timeout
        var backends: Set<Int> = []
        while true {
            let entries = self.entries(after: offset)
            backends = Set(entries.filter { $0.message.hasPrefix("LOG:  connection received: ") }.map(\.pid))
            let running = backends.filter { FileManager.default.fileExists(atPath: "/proc/\($0)") }
            if running.isEmpty || ContinuousClock.now > deadline {
                return entries.filter { backends.contains($0.pid) }
            }
            usleep(20_000)
        }
    }
}
