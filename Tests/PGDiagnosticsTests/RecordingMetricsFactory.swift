import CoreMetrics
import Foundation
import Synchronization

/// A swift-metrics backend that keeps every value it is sent, for tests to read: a real
/// `MetricsFactory` (the same calls Prometheus' or StatsD's factory gets), keyed by label and
/// dimensions.
final class RecordingMetricsFactory: MetricsFactory, Sendable {
    /// One series: a metric label plus its dimensions, in a stable order.
    struct Key: Hashable, CustomStringConvertible {
        var label: String
        var dimensions: [String: String]
        var description: String { "\(label)\(dimensions.sorted { $0.key < $1.key })" }
    }

    enum Kind: Sendable { case counter, recorder, timer }

    private let values = Mutex<[Key: (kind: Kind, samples: [Double])]>([:])

    func record(_ key: Key, _ kind: Kind, _ value: Double) {
        values.withLock { $0[key, default: (kind, [])].samples.append(value) }
    }

    /// Every value sent to the series `label` whose dimensions include `matching`.
    func samples(_ label: String, _ matching: [String: String] = [:]) -> [Double] {
        values.withLock { values in
            values.filter { key, _ in key.label == label && matching.allSatisfy { key.dimensions[$0.key] == $0.value } }
                .flatMap { $0.value.samples }
        }
    }

    /// The series of `label` that include `matching`, with their dimensions.
    func series(_ label: String, _ matching: [String: String] = [:]) -> [Key] {
        values.withLock { values in
            values.keys.filter { series in series.label == label && matching.allSatisfy { series.dimensions[$0.key] == $0.value } }
        }
    }

    /// A counter's total.
    func counter(_ label: String, _ matching: [String: String] = [:]) -> Double { samples(label, matching).reduce(0, +) }

    /// The last value of a gauge.
    func gauge(_ label: String, _ matching: [String: String] = [:]) -> Double? { samples(label, matching).last }

    private final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let factory: RecordingMetricsFactory
        let key: Key
        let kind: Kind
        init(factory: RecordingMetricsFactory, key: Key, kind: Kind) {
            self.factory = factory
            self.key = key
            self.kind = kind
        }
        func increment(by amount: Int64) { factory.record(key, kind, Double(amount)) }
        func reset() {}
        func record(_ value: Int64) { factory.record(key, kind, Double(value)) }
        func record(_ value: Double) { factory.record(key, kind, value) }
        func recordNanoseconds(_ duration: Int64) { factory.record(key, kind, Double(duration) / 1e9) }
    }

    private func handler(_ label: String, _ dimensions: [(String, String)], _ kind: Kind) -> Handler {
        Handler(factory: self, key: Key(label: label, dimensions: Dictionary(dimensions) { _, last in last }), kind: kind)
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label, dimensions, .counter) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        handler(label, dimensions, .recorder)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label, dimensions, .timer) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
