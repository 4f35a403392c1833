import Synchronization
import XCTest
@testable import PGDiagnostics

/// The exporter's guard against scrape storms, without a network: real tasks, real sleeps.
final class ProbeSchedulerTests: XCTestCase {
    /// Counts probes running at once and the most seen.
    final class Gauge: Sendable {
        private let state = Mutex((now: 0, most: 0, started: 0))
        func enter() { state.withLock { $0.now += 1; $0.started += 1; $0.most = max($0.most, $0.now) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var started: Int { state.withLock { $0.started } }
    }

    func testNoMoreThanTheLimitRunAtOnceAndEveryRequestIsServed() async {
        let scheduler = ProbeScheduler<String>(maximumConcurrentProbes: 2, minimumInterval: .zero)
        let gauge = Gauge()
        let results = await withTaskGroup(of: String.self) { group in
            for index in 0..<6 {
                group.addTask {
                    await scheduler.probe("target-\(index)") {
                        gauge.enter()
                        try? await Task.sleep(for: .milliseconds(30))
                        gauge.leave()
                        return "result-\(index)"
                    }.result
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(Set(results), Set((0..<6).map { "result-\($0)" }))
        XCTAssertEqual(gauge.most, 2)
        XCTAssertEqual(gauge.started, 6)
        let running = await scheduler.runningProbes
        XCTAssertEqual(running, 0)
    }

    func testConcurrentRequestsForOneTargetShareOneProbe() async {
        let scheduler = ProbeScheduler<Int>(maximumConcurrentProbes: 4, minimumInterval: .zero)
        let gauge = Gauge()
        let sources = await withTaskGroup(of: ProbeScheduler<Int>.Source.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    await scheduler.probe("db") {
                        gauge.enter()
                        try? await Task.sleep(for: .milliseconds(100))
                        gauge.leave()
                        return 1
                    }.source
                }
            }
            return await group.reduce(into: []) { $0.append("\($1)") }
        }
        XCTAssertEqual(gauge.started, 1, "one probe for three requests")
        XCTAssertEqual(sources.sorted(), ["probed", "shared", "shared"])
    }

    func testATargetIsProbedAgainOnlyAfterTheMinimumInterval() async throws {
        let scheduler = ProbeScheduler<Int>(maximumConcurrentProbes: 1, minimumInterval: .milliseconds(200))
        let gauge = Gauge()
        let body: @Sendable () async -> Int = {
            gauge.enter()
            gauge.leave()
            return gauge.started
        }
        let first = await scheduler.probe("db", body)
        let second = await scheduler.probe("db", body)
        XCTAssertEqual(first.result, 1)
        XCTAssertEqual(second.result, 1, "the last result again")
        XCTAssertEqual("\(second.source)", "recent")
        let other = await scheduler.probe("other", body)
        XCTAssertEqual(other.result, 2, "another target is probed at once")
        try await Task.sleep(for: .milliseconds(250))
        let third = await scheduler.probe("db", body)
        XCTAssertEqual(third.result, 3)
        XCTAssertEqual("\(third.source)", "probed")
    }
}
