import Foundation
import PGTestSupport
import XCTest

/// `pgconnect-check inspect` on the test PKI.
final class InspectCommandTests: XCTestCase {
    var fixtures: String!

    override func setUpWithError() throws {
        guard let fixtures = ProcessInfo.processInfo.environment["PGCONNECT_TEST_FIXTURES"] else {
            throw XCTSkip("needs the fixtures from scripts/test.sh (PGCONNECT_TEST_FIXTURES)")
        }
        self.fixtures = fixtures
    }

    func testCertificateKeyAndChainAreDescribedAndMatched() throws {
        let result = try CLIRun.run(["inspect", "--format", "json", "\(fixtures!)/main/alice.crt", "\(fixtures!)/main/alice.key",
                                     "\(fixtures!)/main/bob.key", "\(fixtures!)/inter/ivan.crt"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let files = try XCTUnwrap(result.json?["files"] as? [[String: Any]])
        XCTAssertEqual(files.count, 4)
        let alice = try XCTUnwrap((files[0]["certificates"] as? [[String: Any]])?.first)
        XCTAssertEqual(alice["subject"] as? String, "CN=alice,O=pgconnect")
        XCTAssertEqual(alice["common_name"] as? String, "alice")
        XCTAssertEqual(alice["public_key"] as? String, "EC P-256 (256 bits)")
        XCTAssertEqual(alice["extended_key_usage"] as? [String], ["clientAuth"])
        XCTAssertEqual((files[1]["key"] as? [String: Any])?["matches"] as? [String], ["\(fixtures!)/main/alice.crt"])
        XCTAssertEqual((files[2]["key"] as? [String: Any])?["matches"] as? [String], [], "bob's key matches none")
        XCTAssertEqual((files[3]["certificates"] as? [Any])?.count, 2, "leaf and intermediate")
        XCTAssertFalse(result.stdout.contains("BEGIN"), "no key material")
    }

    func testTutorialServerCertificateIsASelfSignedCA() throws {
        let result = try CLIRun.run(["inspect", "\(fixtures!)/tutorial/server.crt"], environment: ["NO_COLOR": "1"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.contains("RSA (4096 bits)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("CA          yes, self-signed"), result.stdout)
    }

    func testEncryptedKeyIsOpenedOnlyWithThePassphrase() throws {
        let locked = try CLIRun.run(["inspect", "--format", "json", "\(fixtures!)/main/alice.enc.key", "\(fixtures!)/main/alice.crt"])
        XCTAssertEqual((locked.json?["files"] as? [[String: Any]])?.first?["kind"] as? String, "encrypted-private-key")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-pw-\(UUID())").path
        try "secret\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let opened = try CLIRun.run(["inspect", "--format", "json", "--sslpassword-file", file,
                                     "\(fixtures!)/main/alice.enc.key", "\(fixtures!)/main/alice.crt"])
        let key = (opened.json?["files"] as? [[String: Any]])?.first?["key"] as? [String: Any]
        XCTAssertEqual(key?["matches"] as? [String], ["\(fixtures!)/main/alice.crt"])
        XCTAssertEqual(opened.stderr, "", "no warning for a 0600 passphrase file")
        chmod(file, 0o644)
        let exposed = try CLIRun.run(["inspect", "--sslpassword-file", file, "\(fixtures!)/main/alice.enc.key"])
        XCTAssertTrue(exposed.stderr.contains("readable by others"), exposed.stderr)
        XCTAssertTrue(exposed.stderr.contains("chmod 600"), exposed.stderr)
    }

    func testUnreadableInputsExitThreeWithoutHanging() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("inspect-fifo-\(UUID())").path
        mkfifo(fifo, 0o600)
        defer { unlink(fifo) }
        let result = try CLIRun.run(["inspect", fifo, "/nonexistent/x.crt", "/dev/zero", FileManager.default.temporaryDirectory.path])
        XCTAssertEqual(result.status, 3)
        XCTAssertEqual(result.stdout.components(separatedBy: ": unreadable").count - 1, 4, result.stdout)
    }
}
