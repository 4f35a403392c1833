import Foundation
import PGTestSupport
import XCTest
import PGConnect

/// The snippets of PGConnect.docc/GettingStarted.md, compiled and run against the test server.
final class GettingStartedTests: XCTestCase {
    func testTheGettingStartedSnippetsWork() async throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        // "Connect with a client certificate" (the test server's host and files instead of db.internal's).
        var options = ConnectionOptions()
        options.host = [server.host]
        options.port = [server.port]
        options.dbname = "postgres"
        options.user = "alice"
        options.sslmode = .verifyFull
        options.sslrootcert = "\(server.pki)/root.crt"
        options.sslcert = "\(server.pki)/alice.crt"
        options.sslkey = "\(server.pki)/alice.key"

        let connection = try await Connection.connect(options, timeout: .seconds(10))
        _ = try await connection.query("CREATE TEMP TABLE widgets (id int, name text, created timestamptz, owner text)")
        _ = try await connection.query("INSERT INTO widgets VALUES (1, 'gear', now(), 'app')")

        // "Run queries"
        let result = try await connection.query("SELECT id, name, created FROM widgets WHERE owner = $1", ["app"])
        for row in result {
            XCTAssertEqual(row["id"]?.int, 1)
            XCTAssertEqual(row["name"]?.string, "gear")
            XCTAssertNotNil(row["created"]?.date)
        }

        // "Read the TLS session"
        let tls = try XCTUnwrap(connection.tlsSession)
        XCTAssertNotNil(tls.protocolVersion)
        XCTAssertEqual(connection.timings.phaseDurations.last?.phase, "total")

        // "Listen for notifications"
        try await connection.listen("jobs")
        let notifier = try await Connection.connect(options)
        _ = try await notifier.query("NOTIFY jobs, 'ready'")
        for try await notification in connection.notifications() {
            XCTAssertEqual(notification.payload, "ready")
            break
        }
        await notifier.close()
        await connection.close()

        // "Use the pool"
        let pool = ConnectionPool(options: options, configuration: .init(maximumConnections: 4))
        let count = try await pool.withConnection { connection in
            try await connection.query("SELECT count(*) FROM pg_roles")[0][0].int
        }
        XCTAssertGreaterThan(count ?? 0, 0)
        await pool.shutdown()
    }
}
