import Foundation
import PGConnect
import PGTestSupport
import XCTest

/// Broken and hostile inputs through the command a person runs: a clear diagnosis naming the
/// input, never a crash, a hang or a prompt.
final class HostileInputTests: XCTestCase {
    var server: TestServer!
    var scratch: URL!

    override func setUpWithError() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the server from scripts/test.sh") }
        self.server = server
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }

    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func check(sslcert: String? = nil, sslkey: String? = nil, sslrootcert: String? = nil) throws -> CLIRun {
        var options = server.options()
        if let sslcert { options.sslcert = sslcert }
        if let sslkey { options.sslkey = sslkey }
        if let sslrootcert { options.sslrootcert = sslrootcert }
        let start = Date()
        let result = try CLIRun.run(["--format", "json", "--connect-timeout", "5", try options.conninfoString()])
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "no hang")
        return result
    }

    func testCertificateAndKeyPathsThatAreNotFiles() throws {
        let fifo = path("fifo")
        mkfifo(fifo, 0o600)
        try Data().write(to: URL(fileURLWithPath: path("empty.crt")))
        let pem = try String(contentsOfFile: "\(server.pki)/alice.crt", encoding: .utf8)
        try String(pem.prefix(pem.count / 2)).write(toFile: path("truncated.crt"), atomically: true, encoding: .utf8)
        XCTAssertTrue(FileManager.default.createFile(atPath: path("big.crt"), contents: Data(count: 50 << 20)))

        let expectations: [(String, String?, String?, String)] = [
            ("a directory as sslcert", scratch.path, nil, "file-unreadable"),
            ("a FIFO as sslcert", fifo, nil, "file-unreadable"),
            ("/dev/zero as sslcert", "/dev/zero", nil, "file-unreadable"),
            ("an empty sslcert", path("empty.crt"), nil, "cert-unparsable"),
            ("a truncated PEM", path("truncated.crt"), nil, "cert-unparsable"),
            ("a 50 MB sslcert", path("big.crt"), nil, "file-unreadable"),
            ("a FIFO as sslkey", nil, fifo, "file-unreadable"),
            ("a directory as sslkey", nil, scratch.path, "file-unreadable"),
        ]
        for (name, certificate, key, code) in expectations {
            let result = try check(sslcert: certificate, sslkey: key)
            XCTAssertEqual(result.status, 3, name)
            XCTAssertEqual(result.diagnosis?["code"] as? String, code, "\(name): \(result.stdout)")
            let summary = result.diagnosis?["summary"] as? String ?? ""
            XCTAssertTrue(summary.contains(certificate ?? key ?? ""), "\(name): the summary names the input: \(summary)")
        }
        let fifoRoot = try check(sslrootcert: fifo)
        XCTAssertEqual(fifoRoot.diagnosis?["code"] as? String, "file-unreadable")
    }

    func testDERWherePEMIsExpectedAndAKeyOfAnotherType() throws {
        try CertificateFactory.openssl(["x509", "-in", "\(server.pki)/alice.crt", "-outform", "DER", "-out", path("alice.der")])
        let der = try check(sslcert: path("alice.der"))
        XCTAssertEqual(der.diagnosis?["code"] as? String, "cert-unparsable")
        XCTAssertTrue((der.diagnosis?["fixes"] as? [String])?.first?.contains("-inform DER") ?? false)
        try CertificateFactory.openssl(["genpkey", "-algorithm", "ED25519", "-out", path("ed.key")])
        chmod(path("ed.key"), 0o600)
        let otherKey = try check(sslkey: path("ed.key"))
        XCTAssertEqual(otherKey.diagnosis?["code"] as? String, "key-cert-mismatch")
    }

    func testHostileConninfoAndExplainInput() throws {
        for conninfo in ["host='unterminated", "postgresql://%zz@h/db", "sslcrt=x", String(repeating: "a=", count: 5000)] {
            let result = try CLIRun.run(["--format", "json", conninfo])
            XCTAssertEqual(result.status, 3, conninfo.prefix(40).description)
            XCTAssertEqual(result.diagnosis?["layer"] as? String, "config")
        }
        let binary = String(decoding: (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }, as: UTF8.self)
        let explained = try CLIRun.run(["explain", binary])
        XCTAssertTrue([0, 1].contains(explained.status))
    }

    func testUnresolvableHostName() throws {
        // A 64-character label is invalid DNS: the resolver refuses it locally, without a query.
        let name = String(repeating: "a", count: 64) + ".test"
        var options = server.options()
        options.host = [name]
        let result = try CLIRun.run(["--format", "json", try options.conninfoString()])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.diagnosis?["code"] as? String, "host-unresolved", result.stdout)
    }

    func testGarbageAfterTLSYesAndASilentServerThroughTheCLI() throws {
        for behavior in [MisbehavingServer.Behavior.garbageAfterTLSYes, .closeMidHandshake] {
            let fake = try MisbehavingServer(behavior)
            var options = server.options()
            options.port = [fake.port]
            let start = Date()
            let result = try CLIRun.run(["--format", "json", try options.conninfoString()])
            XCTAssertEqual(result.status, 2, "\(behavior): \(result.stdout)")
            XCTAssertEqual(result.diagnosis?["layer"] as? String, "tls", "\(behavior)")
            XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        }
        let silent = try SilentListener()
        var options = server.options()
        options.port = [silent.port]
        let start = Date()
        let result = try CLIRun.run(["--format", "json", "--connect-timeout", "1", try options.conninfoString()])
        XCTAssertEqual(result.diagnosis?["code"] as? String, "timeout")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.5, "within connect_timeout + 1 s")
    }
}
