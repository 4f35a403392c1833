import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// Runs the built `pgconnect-check` as a person or a script would, against the real server.
final class CheckCommandTests: XCTestCase {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIRun {
        try CLIRun.run(arguments, environment: environment)
    }

    func server() throws -> TestServer {
        guard let server = TestServer.shared else {
            throw XCTSkip("needs the PostgreSQL server started by scripts/test.sh (PGCONNECT_TEST_ENV)")
        }
        return server
    }

    func testWorkingLoginPrintsJSONAndExitsZero() throws {
        let server = try server()
        let result = try run(["--format", "json", server.conninfo()])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        let json = try XCTUnwrap(result.json, "stdout is one JSON object: \(result.stdout)")
        XCTAssertEqual(json["schema_version"] as? Int, 1)
        XCTAssertEqual(json["ok"] as? Bool, true)
        XCTAssertTrue(json["diagnosis"] is NSNull, "diagnosis is null when the login worked")
        let tls = try XCTUnwrap(json["tls"] as? [String: Any])
        XCTAssertNotNil(tls["protocol"] as? String)
        let timings = try XCTUnwrap(json["timings_ms"] as? [String: Any])
        XCTAssertGreaterThan(timings["total"] as? Double ?? 0, 0)
        let serverInfo = try XCTUnwrap(json["server"] as? [String: Any])
        XCTAssertEqual(serverInfo["current_user"] as? String, "alice")
        XCTAssertEqual(serverInfo["ssl"] as? Bool, true)
        let target = try XCTUnwrap(json["target"] as? [String: Any])
        XCTAssertEqual(target["user"] as? String, "alice")
        XCTAssertEqual(target["sslmode"] as? String, "verify-full")
        XCTAssertEqual((json["warnings"] as? [Any])?.count, 0, "a verify-full login has no warnings")
    }

    func testWorkingLoginTextReport() throws {
        let server = try server()
        let result = try run([server.conninfo()], environment: ["NO_COLOR": "1"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.contains("✔ Connected as alice"), result.stdout)
        XCTAssertFalse(result.stdout.contains("\u{1B}["), "no colour when stdout is not a TTY")
    }

    func testWrongRootCertificateExitsTwo() throws {
        let server = try server()
        let result = try run(["--format", "json", server.conninfo(), "--sslrootcert", "\(server.otherPKI)/root.crt"])
        XCTAssertEqual(result.status, 2, result.stdout)
        let diagnosis = try XCTUnwrap(result.json?["diagnosis"] as? [String: Any])
        XCTAssertEqual(diagnosis["layer"] as? String, "tls")
        XCTAssertEqual(diagnosis["code"] as? String, "server-cert-untrusted")
        XCTAssertTrue((diagnosis["libpq_message"] as? String)?.contains("certificate verify failed") ?? false)
    }

    func testRefusedLoginExitsOneWithSQLState() throws {
        let server = try server()
        let result = try run(["--format", "json", server.conninfo(), "-U", "bob"])
        XCTAssertEqual(result.status, 1, result.stdout)
        let diagnosis = try XCTUnwrap(result.json?["diagnosis"] as? [String: Any])
        XCTAssertEqual(diagnosis["layer"] as? String, "authentication")
        XCTAssertEqual(diagnosis["sqlstate"] as? String, "28000")
        XCTAssertEqual(diagnosis["code"] as? String, "cert-name-mismatch")
        XCTAssertNil(diagnosis["hba_line"], "hba_line only appears when the server's files were read")
    }

    func testRefusedPortExitsTwo() throws {
        let server = try server()
        let result = try run(["--format", "json", server.conninfo(), "--port", "1"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual((result.json?["diagnosis"] as? [String: Any])?["code"] as? String, "connection-refused")
    }

    func testSilentServerTimesOutAndExitsTwo() throws {
        let server = try server()
        let silent = try SilentListener()
        let start = Date()
        let result = try run(["--format", "json", server.conninfo(), "--port", String(silent.port), "--connect-timeout", "1"])
        XCTAssertEqual(result.status, 2, result.stdout)
        XCTAssertEqual((result.json?["diagnosis"] as? [String: Any])?["code"] as? String, "timeout")
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
    }

    func testBadConninfoExitsThree() throws {
        let result = try run(["--format", "json", "sslcrt=/tmp/x"])
        XCTAssertEqual(result.status, 3)
        let diagnosis = try XCTUnwrap(result.json?["diagnosis"] as? [String: Any])
        XCTAssertEqual(diagnosis["code"] as? String, "unsupported-option")
        XCTAssertTrue((diagnosis["fixes"] as? [String])?.first?.contains("sslcert") ?? false)
    }

    func testInvalidSSLModeExitsThree() throws {
        let result = try run(["--format", "json", "--sslmode", "verify_full", "host=127.0.0.1"])
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual((result.json?["diagnosis"] as? [String: Any])?["layer"] as? String, "config")
    }

    func testEncryptedKeyWithoutPasswordExitsThreeWithoutPrompting() throws {
        let server = try server()
        let result = try run(["--format", "json", server.conninfo(), "--sslkey", "\(server.pki)/alice.enc.key"])
        XCTAssertEqual(result.status, 3, result.stdout)
        XCTAssertEqual((result.json?["diagnosis"] as? [String: Any])?["code"] as? String, "key-encrypted")
    }

    func testPasswordsNeverAppearInOutput() throws {
        let server = try server()
        let passwordFile = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-pw-\(UUID())")
        try "secret\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: passwordFile) }
        let conninfo = server.conninfo() + " password=hunter2-topsecret"
        for format in ["text", "json"] {
            let ok = try run(["--format", format, conninfo, "--sslkey", "\(server.pki)/alice.enc.key",
                              "--sslpassword-file", passwordFile.path])
            XCTAssertEqual(ok.status, 0, ok.stdout)
            let failed = try run(["--format", format, conninfo + " sslpassword=wrong-topsecret", "--sslkey", "\(server.pki)/alice.enc.key"])
            XCTAssertNotEqual(failed.status, 0)
            for output in [ok.stdout, ok.stderr, failed.stdout, failed.stderr] {
                XCTAssertFalse(output.contains("topsecret"), output)
                XCTAssertFalse(output.contains("secret\n"), output)
                XCTAssertFalse(output.contains("BEGIN"), "no key material: \(output)")
            }
        }
    }

    func testUsageErrorExitsSixtyFour() throws {
        XCTAssertEqual(try run(["--no-such-flag"]).status, 64)
        XCTAssertEqual(try run(["--format", "xml"]).status, 64)
        XCTAssertEqual(try run(["--connect-timeout", "0"]).status, 64)
    }

    func testVersionNamesTheLinkedLibpq() throws {
        let result = try run(["--version"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.hasPrefix("pgconnect-check 0.1.0 (libpq \(LibPQ.majorVersion)."), result.stdout)
    }

    func testJSONGoesAloneOnStdout() throws {
        let result = try run(["--format", "json", "--port", "1", "host=127.0.0.1 sslmode=require"])
        XCTAssertEqual(result.status, 2)
        XCTAssertNotNil(result.json, "stdout parses as one JSON object: \(result.stdout)")
    }
}

final class SchemaValidatorTests: XCTestCase {
    func testTheSchemaRejectsWhatTheContractForbids() {
        let validator = SchemaValidator.report
        XCTAssertFalse(validator.root.isEmpty, "docs/report.schema.json is found and parses")
        XCTAssertFalse(validator.validate(["schema_version": 2, "ok": "yes"]).isEmpty)
        let diagnosis: [String: Any] = ["code": "made-up", "layer": "tls", "summary": "", "explanation": "", "evidence": [String](),
                                        "fixes": [String](), "libpq_message": NSNull(), "sqlstate": NSNull()]
        let problems = validator.validate(["diagnosis": diagnosis])
        XCTAssertTrue(problems.contains { $0.contains("made-up") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("missing target") }, "\(problems)")
    }
}

final class ServiceFileTests: XCTestCase {
    func testServiceFileEntriesAreUsedAsPsqlUsesThem() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pg_service-\(UUID()).conf").path
        try """
            [certsvc]
            host=127.0.0.1
            port=\(server.port)
            dbname=postgres
            sslmode=verify-full
            sslrootcert=\(server.pki)/root.crt
            sslcert=\(server.pki)/alice.crt
            sslkey=\(server.pki)/alice.key

            """.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try CLIRun.run(["--format", "json", "service=certsvc user=alice"], environment: ["PGSERVICEFILE": file])
        XCTAssertEqual(result.status, 0, result.stdout)
        let checks = result.json?["checks"] as? [[String: Any]] ?? []
        XCTAssertTrue(checks.contains { ($0["summary"] as? String)?.contains("CN=alice") ?? false }, "the service's sslcert was inspected")
        let viaEnvironment = try CLIRun.run(["--format", "json", "user=bob"], environment: ["PGSERVICEFILE": file, "PGSERVICE": "certsvc"])
        XCTAssertEqual(viaEnvironment.diagnosis?["code"] as? String, "cert-name-mismatch")
    }
}
