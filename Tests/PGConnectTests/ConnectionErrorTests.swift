import XCTest
@testable import PGConnect

/// libpq's accumulated messages, recorded from libpq 15 against a real server.
final class ConnectionErrorTests: XCTestCase {
    func testSplitsPreferFallbackIntoTwoAttempts() {
        let message = """
            connection to server at "127.0.0.1", port 5432 failed: FATAL:  28000: certificate authentication failed for user "bob"
            LOCATION:  auth_failed, auth.c:334
            connection to server at "127.0.0.1", port 5432 failed: FATAL:  28000: no pg_hba.conf entry for host "127.0.0.1", user "bob", database "postgres", no encryption
            LOCATION:  ClientAuthentication, auth.c:543

            """
        let error = ConnectionError(code: .connectionFailed, phase: .authentication, message: message)
        XCTAssertEqual(error.attempts.count, 2)
        XCTAssertEqual(error.attempts[0].primary, "certificate authentication failed for user \"bob\"")
        XCTAssertEqual(error.attempts[0].sqlState, "28000")
        XCTAssertEqual(error.attempts[0].severity, "FATAL")
        XCTAssertEqual(error.attempts[0].target, "connection to server at \"127.0.0.1\", port 5432 failed")
        XCTAssertTrue(error.attempts[1].primary.hasSuffix("no encryption"))
        XCTAssertEqual(error.sqlState, "28000")
    }

    func testKeepsMultiLineClientMessagesWhole() {
        let message = """
            connection to server at "127.0.0.1", port 1 failed: Connection refused
            \tIs the server running on that host and accepting TCP/IP connections?

            """
        let error = ConnectionError(code: .connectionFailed, phase: .connecting, message: message)
        XCTAssertEqual(error.attempts.count, 1)
        XCTAssertEqual(error.attempts[0].primary, "Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?")
        XCTAssertNil(error.sqlState)
    }

    func testReadsDetailAndHint() {
        let message = "FATAL:  3D000: database \"nope\" does not exist\nDETAIL:  d\nHINT:  h\n"
        let error = ConnectionError(code: .connectionFailed, phase: .authentication, message: message)
        XCTAssertEqual(error.sqlState, "3D000")
        XCTAssertEqual(error.detail, "d")
        XCTAssertEqual(error.hint, "h")
        XCTAssertEqual(error.primaryMessage, "database \"nope\" does not exist")
    }

    func testDescriptionNamesCodePhaseAndSQLState() {
        let error = ConnectionError(code: .authenticationFailed, phase: .authentication,
                                    message: "FATAL:  28000: certificate authentication failed for user \"bob\"\n")
        XCTAssertEqual(error.description,
                       "authentication-failed during authentication: certificate authentication failed for user \"bob\" (SQLSTATE 28000)")
    }
}
