import Foundation
import PGConnect
import PGTestSupport
import XCTest
@testable import PGDiagnostics

/// What the pool and the watcher send to a swift-metrics backend (a recording one), for real
/// connects to the real server: one that logs in and one that fails.
final class MetricsTests: XCTestCase {
    var server: TestServer!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        self.server = server
    }

    typealias Name = PGConnectMetrics.Name

    func testASuccessfulConnectRecordsPhasesPoolStateAndTheServerCertificate() async throws {
        let metrics = RecordingMetricsFactory()
        let pool = ConnectionPool(options: server.options(), configuration: .init(
            maximumConnections: 1, metrics: .diagnosing(dimensions: [("pool", "ok")], factory: metrics)))
        // Two leases for one connection: the second waits.
        async let first: Void = pool.withConnection { _ = try await $0.query("SELECT pg_sleep(0.2)") }
        try await Task.sleep(for: .milliseconds(50))
        async let second: Void = pool.withConnection { _ = try await $0.query("SELECT 1") }
        _ = try await (first, second)

        for phase in ["dns", "tcp", "tls", "authentication", "total"] {
            let seconds = metrics.samples(Name.connectDuration, ["pool": "ok", "phase": phase])
            XCTAssertEqual(seconds.count, 1, "one connection, one \(phase) duration")
            XCTAssert(seconds.allSatisfy { $0 >= 0 && $0 < 10 }, "\(phase): \(seconds) (seconds, not ms or ns)")
        }
        let total = try XCTUnwrap(metrics.samples(Name.connectDuration, ["phase": "total"]).first)
        let tls = try XCTUnwrap(metrics.samples(Name.connectDuration, ["phase": "tls"]).first)
        XCTAssertGreaterThan(total, tls, "total covers every phase")
        XCTAssertEqual(metrics.counter(Name.connectFailures), 0)

        XCTAssertEqual(metrics.gauge(Name.poolMaxConnections, ["pool": "ok"]), 1)
        XCTAssertEqual(metrics.gauge(Name.poolConnections, ["pool": "ok"]), 1, "the connection is idle in the pool")
        XCTAssertEqual(metrics.gauge(Name.poolConnectionsInUse, ["pool": "ok"]), 0)
        XCTAssertEqual(metrics.gauge(Name.poolWaiters, ["pool": "ok"]), 0)
        XCTAssert(metrics.samples(Name.poolWaiters, ["pool": "ok"]).contains(1), "the second lease waited")
        XCTAssert(metrics.samples(Name.poolConnectionsInUse, ["pool": "ok"]).contains(1))
        let waits = metrics.samples(Name.poolWaitDuration, ["pool": "ok"]).sorted()
        XCTAssertEqual(waits.count, 2)
        XCTAssertGreaterThan(waits[1], 0.1, "the second lease waited for the first one's pg_sleep(0.2)")

        let serverNotAfter = try XCTUnwrap(PEMFile.certificates(atPath: "\(server.pki)/server.crt").certificates.first?.info.notAfter)
        XCTAssertEqual(metrics.gauge(Name.certificateNotAfter, ["pool": "ok", "certificate": "server"]),
                       serverNotAfter.timeIntervalSince1970, "a Unix timestamp in seconds")
        await pool.shutdown()
        XCTAssertEqual(metrics.gauge(Name.poolConnections, ["pool": "ok"]), 0)
    }

    func testAFailedConnectIsCountedByDiagnosisCode() async throws {
        let metrics = RecordingMetricsFactory()
        // "old" has an expired certificate: the server's OpenSSL rejects it in the handshake.
        let pool = ConnectionPool(options: server.options(user: "old"), configuration: .init(
            metrics: .diagnosing(dimensions: [("pool", "expired")], factory: metrics)))
        for _ in 0..<2 {
            do {
                try await pool.withConnection { _ in }
                XCTFail("an expired client certificate cannot log in")
            } catch is ConnectionError {}
        }
        XCTAssertEqual(metrics.series(Name.connectFailures).map(\.dimensions), [["pool": "expired", "code": "client-cert-expired"]])
        XCTAssertEqual(metrics.counter(Name.connectFailures, ["code": "client-cert-expired"]), 2)
        XCTAssert(metrics.samples(Name.connectDuration).isEmpty, "only connections that logged in are timed")
        XCTAssertEqual(metrics.gauge(Name.poolConnections, ["pool": "expired"]), 0)
        await pool.shutdown()
    }

    func testWithoutDiagnosisTheCodeIsTheConnectionErrorCode() async throws {
        let metrics = RecordingMetricsFactory()
        var options = server.options()
        options.user = "nobody-with-this-name"
        let pool = ConnectionPool(options: options, configuration: .init(metrics: .init(factory: metrics)))
        do {
            try await pool.withConnection { _ in }
            XCTFail("no such role")
        } catch is ConnectionError {}
        XCTAssertEqual(metrics.series(Name.connectFailures).map { $0.dimensions["code"] }, ["authentication-failed"])
        await pool.shutdown()
    }

    func testTheWatcherRecordsTheClientCertificatesNotAfter() throws {
        let metrics = RecordingMetricsFactory()
        let path = "\(server.pki)/alice.crt"
        let watcher = CertificateExpiryWatcher(path: path, metrics: .init(factory: metrics))
        guard case .valid(let expires, _) = watcher.check() else { return XCTFail("alice's certificate is valid") }
        XCTAssertEqual(metrics.gauge(Name.certificateNotAfter, ["certificate": "client", "file": path]), expires.timeIntervalSince1970)
        let expired = CertificateExpiryWatcher(path: "\(server.pki)/old.crt", metrics: .init(factory: metrics))
        guard case .expired(let since) = expired.check() else { return XCTFail("old's certificate has expired") }
        XCTAssertLessThan(since, Date())
        XCTAssertEqual(metrics.gauge(Name.certificateNotAfter, ["file": "\(server.pki)/old.crt"]), since.timeIntervalSince1970)
    }
}
