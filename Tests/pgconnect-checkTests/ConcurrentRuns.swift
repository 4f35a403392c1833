import Foundation

/// Runs blocking work (child processes) `width` at a time on threads of their own, so that a
/// test waiting on many `pgconnect-check`/`psql` runs never blocks Swift's cooperative pool.
enum ConcurrentRuns {
    /// `body(0..<count)`, in index order.
    static func map<T: Sendable>(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) -> T) async -> [T] {
        let results = Slots<T>(count: count)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for _ in 0..<min(width, max(count, 1)) {
                group.enter()
                Thread {
                    while let index = results.claim() { results.set(index, body(index)) }
                    group.leave()
                }.start()
            }
            group.notify(queue: .global()) { continuation.resume() }
        }
        return results.values.map { $0! }
    }
}

/// Results filled in by worker threads. `@unchecked Sendable`: every access goes through `lock`.
private final class Slots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var stored: [T?]

    init(count: Int) { stored = Array(repeating: nil, count: count) }

    /// The next index to work on, or nil when every one is taken.
    func claim() -> Int? {
        lock.withLock {
            guard next < stored.count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func set(_ index: Int, _ value: T) { lock.withLock { stored[index] = value } }

    var values: [T?] { lock.withLock { stored } }
}
