import Foundation
import PGTestSupport
import XCTest
@testable import PGDiagnostics

/// A short, deterministic run of the certificate inspector on mutated real certificates and
/// keys (scripts/fuzz.sh runs a million): it never crashes, hangs or prompts.
final class InspectorFuzzTests: XCTestCase {
    func testMutatedCertificatesAndKeysNeverCrashTheInspector() throws {
        guard let server = TestServer.shared else { throw XCTSkip("needs the fixtures from scripts/test.sh") }
        let seeds = try ["alice.crt", "alice.key", "root.crt"].map { try Data(contentsOf: URL(fileURLWithPath: "\(server.pki)/\($0)")) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("inspector-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("input.pem").path
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<400 {
            var bytes = [UInt8](seeds.randomElement(using: &generator)!)
            for _ in 0..<Int.random(in: 1...8, using: &generator) where !bytes.isEmpty {
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[position] = UInt8.random(in: 0...255, using: &generator)
            }
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            let inspected = FileInspector().inspect([path], passphrase: nil)
            XCTAssertEqual(inspected.count, 1)
            _ = InspectionRenderer.text(inspected)
        }
    }
}
