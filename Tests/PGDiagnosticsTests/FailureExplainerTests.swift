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
        XCTAssertEqual(diagnosis.evidence.filter { $0.hasPrefix("attempt ") }.count, 2, "both attempts are shown")
    }

    func testClientFileMessagesBelongToTheClientFilesLayer() {
        let diagnosis = diagnose("connection to server at \"h\" (127.0.0.1), port 5432 failed: could not load private key file \"/k\": bad decrypt",
                                 phase: .tls)
        XCTAssertEqual(diagnosis.layer, .clientFiles)
        XCTAssertEqual(diagnosis.code, .keyEncrypted)
        XCTAssertNotNil(diagnosis.libpqMessage)
    }

    func testUnknownServerErrorsKeepTheirLayerAndMessage() {
        let diagnosis = diagnose("FATAL:  53300: sorry, too many clients already", phase: .authentication)
        XCTAssertEqual(diagnosis.code, .unknown)
        XCTAssertEqual(diagnosis.layer, .authentication)
        XCTAssertEqual(diagnosis.sqlState, "53300")
        XCTAssertTrue(diagnosis.libpqMessage?.contains("too many clients") ?? false)
        let authorization = diagnose("FATAL:  42501: must be superuser to connect in binary upgrade mode", phase: .startup)
        XCTAssertEqual(authorization.layer, .authorization)
    }

    func testUnknownKeywordSuggestsTheNearestOne() {
        let error = ConnectionError(code: .invalidConninfo, phase: .options, message: "invalid connection option \"sslrootcrt\"")
        let diagnosis = explainer.diagnose(error, options: options)
        XCTAssertEqual(diagnosis.code, .unsupportedOption)
        XCTAssertTrue(diagnosis.fixes[0].contains("sslrootcert"), diagnosis.fixes[0])
    }

    func testUnresolvableHostName() {
        let diagnosis = diagnose("could not translate host name \"db.invalid\" to address: Name or service not known", phase: .connecting)
        XCTAssertEqual(diagnosis.code, .hostUnresolved)
        XCTAssertEqual(diagnosis.layer, .network)
    }

    /// "bad certificate" covers several verify failures (OpenSSL's alert table): without the
    /// certificate at hand it is a rejection, as explain says.
    func testOtherClientCertificateAlertsAreRejections() {
        let diagnosis = diagnose("connection to server at \"127.0.0.1\", port 5432 failed: SSL error: sslv3 alert bad certificate", phase: .tls)
        XCTAssertEqual(diagnosis.code, .clientCertRejected)
        XCTAssertEqual(diagnosis.layer, .tls)
        XCTAssertTrue(diagnosis.summary.contains("bad certificate"))
    }

    func testLostConnectionUsesTheAlertTheProbeSaw() {
        var probe = TLSProbe.Result(host: "127.0.0.1", port: 5432)
        probe.serverAlert = "tlsv1 alert certificate revoked"
        let error = ConnectionError(code: .connectionFailed, phase: .tls, message: "SSL SYSCALL error: EOF detected")
        let diagnosis = explainer.diagnose(error, options: options, evidence: .init(probe: probe))
        XCTAssertEqual(diagnosis.code, .clientCertRevoked)
    }

    func testServerCertificateRevokedByTheClientsCRL() {
        var probe = TLSProbe.Result(host: "127.0.0.1", port: 5432)
        probe.verifiedAgainstRoot = true
        probe.verifyCode = 23
        probe.verifyReason = "certificate revoked"
        let error = ConnectionError(code: .connectionFailed, phase: .tls, message: "SSL error: certificate verify failed")
        let diagnosis = explainer.diagnose(error, options: options, evidence: .init(probe: probe))
        XCTAssertEqual(diagnosis.code, .serverCertRevoked)
        XCTAssertEqual(diagnosis.layer, .tls)
    }

    func testFixesNeverLowerSSLMode() {
        let messages = ["SSL error: certificate verify failed", "server certificate for \"a\" does not match host name \"b\"",
                        "SSL error: tlsv1 alert unknown ca", "server does not support SSL, but SSL was required"]
        for message in messages {
            let fixes = diagnose(message, phase: .tls).fixes.joined(separator: " ")
            for weaker in ["sslmode=require", "sslmode=disable", "sslmode=prefer", "sslmode=allow", "sslmode=verify-ca"] {
                XCTAssertFalse(fixes.contains(weaker), "\(message): \(fixes)")
            }
        }
    }
}
