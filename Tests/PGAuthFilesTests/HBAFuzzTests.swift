import Foundation
import PGTestSupport
import XCTest
@testable import PGAuthFiles

/// Random input never crashes or hangs the tokenizer, the parsers or the simulator.
final class HBAFuzzTests: XCTestCase {
    private static let pieces: [String] = [
        "host", "hostssl", "hostnossl", "hostgssenc", "local", "include", "include_if_exists", "include_dir",
        "all", "sameuser", "samerole", "replication", "+group", "@list", "@", "@\"x y\"", "\"all\"", "\"", "\"\"",
        "\\", "\\\\", ",", ", ", " ,", "#", "# comment", "=", "map=m", "clientcert=verify-full", "clientcert=1",
        "clientname=DN", "ldapbasedn=x", "radiusservers=\"a,b\"", "cert", "trust", "md5", "scram-sha-256", "reject",
        "peer", "ident", "gss", "127.0.0.1/32", "::1/128", "0.0.0.0/0", "10.0.0.0", "255.0.0.0", "ffff::", "/33",
        "127.1", "0x7f.1", "fe80::1%2/64", "1:2:3:4:5:6:7:8:9", ".example.com", "samehost", "samenet",
        "/^(.*)@example\\.com$", "/(", "/[[:alpha:]", "/a{3,", "/\\y", "/(?=(x))", "/***=a.b", "/(?i)x", "/a**",
        "/[z-a]", "/\\u12", "/(?<=a*)b", "\\1", "é", "🚀", "日本", "\u{0}", "\r", "\t", " ", "  ", "\u{FFFD}",
        "CN=alice,O=x", "\"CN=a,O=b\"", "a\"b\"c", "\"a\"\"b\"",
    ]

    private static func randomLine(_ generator: inout SeededGenerator) -> String {
        if Int.random(in: 0..<6, using: &generator) == 0 {
            // A plausible rule with random parts, so the simulator sees real rules too.
            let columns = [
                ["host", "hostssl", "hostnossl", "local"], ["all", "app", "sameuser", "/^a", "\"db,x\""],
                ["all", "alice", "+group", "/^.*e$", "@list"], ["127.0.0.1/32", "::1/128", "0.0.0.0/0", "samenet", ".example.com"],
                ["cert", "trust", "md5", "reject", "scram-sha-256 clientcert=verify-full"],
                ["", "map=m", "clientname=DN map=m", "clientcert=verify-ca"],
            ]
            return columns.map { $0.randomElement(using: &generator)! }.joined(separator: " ")
        }
        var line = ""
        let count = Int.random(in: 0...9, using: &generator)
        for _ in 0..<count {
            switch Int.random(in: 0..<100, using: &generator) {
            case 0:
                line += String(repeating: "x", count: Int.random(in: 200...3_000, using: &generator))
            case 1:
                line += "/" + String(repeating: "(a|b)*", count: Int.random(in: 1...300, using: &generator))
            case 2...9:
                let length = Int.random(in: 1...12, using: &generator)
                line += String((0..<length).map { _ in
                    Character(Unicode.Scalar(UInt32.random(in: 1...0x2FFF, using: &generator)) ?? "?")
                })
            default:
                line += pieces.randomElement(using: &generator)!
            }
            if Bool.random(using: &generator) { line += " " }
        }
        if Int.random(in: 0..<20, using: &generator) == 0 { line += "\\" }
        return line
    }

    func testTwentyThousandRandomLinesNeverCrashOrHang() throws {
        let directory = try AuthFileTestDirectory()
        var generator = SeededGenerator(seed: 0x5EED_2024)
        var lines: [String] = []
        for _ in 0..<20_000 { lines.append(Self.randomLine(&generator)) }
        // A few very long tokens: a 100 kB name, a quoted one, a long regex.
        lines[777] = "host " + String(repeating: "d", count: 100_000) + " all 10.0.0.0/8 md5"
        lines[778] = "host \"" + String(repeating: "q ", count: 50_000) + "\" all 10.0.0.0/8 md5"
        lines[779] = "host all /" + String(repeating: "[a-z]?", count: 5_000) + " 10.0.0.0/8 md5"
        let text = lines.joined(separator: "\n")

        let started = Date()
        let hba = HBAFile.parse(text, path: directory.path("pg_hba.conf"))
        let ident = IdentFile.parse(text, path: directory.path("pg_ident.conf"))
        // Each line on its own too, so continuations do not hide lines.
        var perLineRules = 0
        for line in lines.prefix(5_000) {
            perLineRules += HBAFile.parse(line, path: directory.path("one.conf")).rules.count
            _ = IdentFile.parse(line, path: directory.path("one.conf"))
        }
        let simulator = HBASimulator(hba: hba, ident: ident)
        let requests = [
            HBASimulator.Request(database: "app", user: "alice", roleMemberships: ["group"],
                                 certificateCommonName: "alice@example.com", certificateDN: "CN=alice@example.com,O=x"),
            HBASimulator.Request(connectionType: .local, ssl: false, database: "all", user: "é"),
            HBASimulator.Request(ssl: false, clientAddress: "::1", database: "x", user: "y"),
        ]
        for request in requests { _ = simulator.simulate(request) }
        let elapsed = Date().timeIntervalSince(started)

        // A guard against a hang (catastrophic backtracking), not a speed measurement: a release
        // build takes well under a second, a sanitizer build several.
        XCTAssertLessThan(elapsed, 60, "parsing and simulating took \(elapsed) s")
        XCTAssertFalse(hba.errors.isEmpty)
        XCTAssertGreaterThan(hba.rules.count + perLineRules, 0, "some random lines should parse")
        for error in hba.errors + ident.errors {
            XCTAssertGreaterThanOrEqual(error.line, 0)
            XCTAssertFalse(error.message.isEmpty)
        }
    }
}
