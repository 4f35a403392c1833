import PGConnect
import XCTest
@testable import PGDiagnostics

/// The explainer on libpq 15 messages recorded from real failures (the integration tests in
/// pgconnect-checkTests produce the same failures live).
final class FailureExplainerTests: XCTestCase {
    let explainer = FailureExplainer()
    let options = ConnectionOptions(["user": "bob", "sslmode": "verify-full"])

    func diagnose(_ message: String, phase: ConnectionPhase, code: ConnectionError.Code = .connectionFailed) -> Report.Diagnosis {
        explainer.diagnose(ConnectionError(code: code, phase: phase, message: message), options: options)
    }

    func testPreferFallbackIsJudgedByTheTLSAttemptNotTheLastLine() {
        let diagnosis = diagnose("""
            connection to server at "127.0.0.1", port 5432 failed: FATAL:  28000: certificate authentication failed for user "bob"
            connection to server at "127.0.0.1", port 5432 failed: FATAL:  28000: no pg_hba.conf entry for host "127.0.0.1", user "bob", database "postgres", no encryption
            """, phase: .authentication)
        XCTAssertEqual(diagnosis.code, .certNameMismatch)
        XCTAssertEqual(diagnosis.layer, .authentication)
        XCTAssertEqual(diagnosis.evidence.count, 2, "both attempts are shown")
    }

    func testClientFileMessagesBelongToTheClientFilesLayer() {
        let diagnosis = diagnose("connection to server at \"h\" (127.0.0.1), port 5432 failed: could not load private key file \"/k\": bad decrypt",
                                 phase: .tls)
        XCTAssertEqual(diagnosis.layer, .clientFiles)
        XCTAssertEqual(diagnosis.code, .unknown)
        XCTAssertNotNil(diagnosis.libpqMessage)
    }

    func testUnknownServerErrorsKeepTheirLayerAndMessage() {
        let diagnosis = diagnose("FATAL:  3D000: database \"nope\" does not exist", phase: .authentication)
        XCTAssertEqual(diagnosis.layer, .authorization)
        XCTAssertEqual(diagnosis.code, .unknown)
        XCTAssertEqual(diagnosis.sqlState, "3D000")
    }

    func testUnknownKeywordSuggestsTheNearestOne() {
        let error = ConnectionError(code: .invalidConninfo, phase: .options, message: "invalid connection option \"sslrootcrt\"")
        let diagnosis = explainer.diagnose(error, options: options)
        XCTAssertEqual(diagnosis.code, .unsupportedOption)
        XCTAssertTrue(diagnosis.fixes[0].contains("sslrootcert"), diagnosis.fixes[0])
    }
}
