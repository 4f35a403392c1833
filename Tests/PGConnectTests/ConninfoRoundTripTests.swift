import CLibPQ
import PGTestSupport
import XCTest
@testable import PGConnect

/// Every rendered value must read back unchanged through libpq's own parser.
final class ConninfoRoundTripTests: XCTestCase {
    /// Keywords whose values libpq's parser stores as given (no translation like requiressl).
    static let keywords = ["host", "port", "dbname", "user", "password", "sslcert", "sslkey", "sslrootcert", "sslcrl",
                           "sslcrldir", "sslpassword", "application_name", "options", "target_session_attrs", "sslmode",
                           "connect_timeout", "hostaddr", "keepalives"]

    static let alphabet: [String] = [" ", "  ", "'", "\\", "\\\\", "=", "\"", "\t", "\n", "\r", "a", "Z", "0", "/", ":", ",",
                                     "@", "%", "%20", "&", "?", "#", "+", "é", "日本", "🔐", "\u{00A0}", "$", "`", ";", "-", "_", "."]

    static func randomValue(_ generator: inout SeededGenerator) -> String {
        let length = Int.random(in: 0...12, using: &generator)
        return (0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined()
    }

    func testTwelveThousandGeneratedValuesSurviveConninfoParse() throws {
        var generator = SeededGenerator(seed: 0x5EED)
        var checked = 0
        while checked < 12_000 {
            var values: [String: String] = [:]
            for keyword in Self.keywords.shuffled(using: &generator).prefix(3) {
                values[keyword] = Self.randomValue(&generator)
            }
            let options = ConnectionOptions(values)
            let rendered = try options.conninfoString()
            let parsed = try ConnectionOptions(conninfo: rendered)
            XCTAssertEqual(parsed.values, values, "rendered as: \(rendered)")
            checked += values.count
        }
    }

    func testGeneratedValuesSurviveURIParse() throws {
        var generator = SeededGenerator(seed: 0xC0FFEE)
        for _ in 0..<3_000 {
            var values: [String: String] = [:]
            for keyword in Self.keywords.shuffled(using: &generator).prefix(4) {
                values[keyword] = Self.randomValue(&generator)
            }
            let options = ConnectionOptions(values)
            let uri = try options.uriString()
            let parsed = try ConnectionOptions(conninfo: uri)
            XCTAssertEqual(parsed.values, values, "rendered as: \(uri)")
        }
    }

    func testEdgeCasesRoundTrip() throws {
        let cases = ["", " ", "'", "\\", "a b", "x=y", "it's", "C:\\Users\\me\\a.crt", "'quoted'", "trailing\\", "ünïcødé", "\u{7F}", "tab\there"]
        for value in cases {
            let options = ConnectionOptions(["sslcert": value, "password": value])
            XCTAssertEqual(try ConnectionOptions(conninfo: options.conninfoString()).values, options.values)
            XCTAssertEqual(try ConnectionOptions(conninfo: options.uriString()).values, options.values)
        }
    }

    func testRenderedURIPutsHostPortAndDatabaseInTheirParts() throws {
        var options = ConnectionOptions()
        options.host = ["db.example.com"]
        options.port = [5433]
        options.user = "alice"
        options.dbname = "app"
        options.sslmode = .verifyFull
        options.sslrootcert = "/etc/ssl/root ca.crt"
        XCTAssertEqual(try options.uriString(),
                       "postgresql://alice@db.example.com:5433/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Froot%20ca.crt")
    }
}
