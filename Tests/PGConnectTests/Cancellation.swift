import PGConnect
import XCTest

/// Starts `work` (a query the server keeps busy, e.g. `pg_sleep(30)`), cancels its task after
/// 200 ms, and asserts that it ends with ``ConnectionError/Code/cancelled`` within `limit`.
func assertCancellationStops<T: Sendable>(within limit: Duration,
                                                 _ work: @escaping @Sendable () async throws -> T,
                                                 file: StaticString = #filePath, line: UInt = #line) async throws {
    let task = Task { try await work() }
    try await Task.sleep(for: .milliseconds(200))
    let start = ContinuousClock.now
    task.cancel()
    do {
        _ = try await task.value
        XCTFail("must be cancelled", file: file, line: line)
    } catch let error as ConnectionError {
        XCTAssertEqual(error.code, .cancelled, file: file, line: line)
    }
    XCTAssertLessThan(ContinuousClock.now - start, limit, file: file, line: line)
}
