/// Runs probes for an exporter so that a scrape storm cannot hammer a database: at most
/// ``maximumConcurrentProbes`` at a time (the rest wait their turn), one probe per target at a
/// time (concurrent requests for a target share its probe), and a target probed less than
/// ``minimumInterval`` ago gets that probe's result again.
public actor ProbeScheduler<Result: Sendable> {
    /// Probes running at once, at most.
    public nonisolated let maximumConcurrentProbes: Int
    /// A target is probed at most once per this interval.
    public nonisolated let minimumInterval: Duration

    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var inFlight: [String: Task<Result, Never>] = [:]
    private var latest: [String: (finished: ContinuousClock.Instant, result: Result)] = [:]

    /// What ``probe(_:_:)`` did.
    public enum Source: Sendable {
        /// The target was probed for this request.
        case probed
        /// A probe of the target was running: its result is shared.
        case shared
        /// The target was probed within ``minimumInterval``: that result is given again.
        case recent
    }

    public init(maximumConcurrentProbes: Int, minimumInterval: Duration) {
        self.maximumConcurrentProbes = max(1, maximumConcurrentProbes)
        self.minimumInterval = max(.zero, minimumInterval)
    }

    /// Probes running now.
    public var runningProbes: Int { running }
    /// Probes waiting for a free slot.
    public var waitingProbes: Int { waiting.count }

    /// The result for `target`: probed by `body`, shared with a running probe, or recent.
    public func probe(_ target: String, _ body: @escaping @Sendable () async -> Result) async -> (result: Result, source: Source) {
        if let recent = latest[target], ContinuousClock.now - recent.finished < minimumInterval {
            return (recent.result, .recent)
        }
        if let task = inFlight[target] {
            return (await task.value, .shared)
        }
        // Unstructured: a scraper that hangs up does not cancel the probe others may share.
        let task = Task { () -> Result in
            await self.acquire()
            let result = await body()
            self.finished(target, result)  // the task runs on this actor; `body` does not
            return result
        }
        inFlight[target] = task
        return (await task.value, .probed)
    }

    private func acquire() async {
        if running < maximumConcurrentProbes {
            running += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }  // the slot is handed over in `finished`
    }

    private func finished(_ target: String, _ result: Result) {
        latest[target] = (.now, result)
        inFlight[target] = nil
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
