import Foundation
import XCTest
@testable import PGDiagnostics

/// Measures `explain` (the API `pgconnect-check explain` uses) on the failures the integration suite
/// itself reproduces, from both ends: psql's message and the server's log lines, on PostgreSQL 15
/// and 17 (`Corpus/suite-failures.json`, recorded by SuiteFailuresRecorder; see Corpus/README.md).
///
/// Offline. The figures — recognised, expected cause first, wrong side of the handshake — are
/// printed, not asserted (issue 13 turns them into assertions); the test fails only when the
/// fixture is malformed.
final class SuiteFailuresCorpusTests: XCTestCase {
    struct Fixture: Decodable {
        var description: String
        var libpq: String
        var servers: [String: String]
        var normalised: [String]
        var entries: [Entry]
    }

    struct Entry: Decodable {
        var id: String
        var scenarios: [String]
        var serverVersion: Int?
        var side: String
        var text: String
        var expectedCode: String
        var reason: String

        enum CodingKeys: String, CodingKey {
            case id, scenarios, side, text, reason
            case serverVersion = "server_version"
            case expectedCode = "expected_code"
        }
    }

    /// Which certificate a code is about: the handshake has two directions, and telling a person
    /// the wrong one sends them to fix the wrong end.
    enum Concern: String {
        case serverCertificate = "the server's certificate"
        case clientCertificate = "the client's certificate"
    }

    static func concern(_ code: DiagnosisCode) -> Concern? {
        switch code {
        case .serverCertUntrusted, .serverNameMismatch, .serverCertExpired, .serverCertRevoked:
            return .serverCertificate
        case .clientCertUnknownCA, .clientCertRevoked, .clientCertRejected, .clientCertExpired, .clientCertNotYetValid,
             .clientCertWrongUsage, .clientCertChainIncomplete, .clientCertRequired, .certFileMissing:
            return .clientCertificate
        default:
            return nil
        }
    }

    static var fixtureURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus/suite-failures.json")
    }

    func loadFixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixtureURL))
    }

    func testFixtureIsWellFormed() throws {
        let fixture = try loadFixture()
        XCTAssertFalse(fixture.entries.isEmpty)
        XCTAssertEqual(Set(fixture.servers.keys), ["15", "17"], "recorded on PostgreSQL 15 and 17")
        XCTAssertTrue(fixture.libpq.contains("PostgreSQL"), fixture.libpq)
        var ids = Set<String>()
        var keys = Set<String>()
        for entry in fixture.entries {
            XCTAssertTrue(ids.insert(entry.id).inserted, "duplicate id \(entry.id)")
            XCTAssertTrue(["client", "server"].contains(entry.side), "\(entry.id): side \(entry.side)")
            if let version = entry.serverVersion {
                XCTAssertTrue([15, 17].contains(version), "\(entry.id): server_version \(version)")
            } else {
                XCTAssertEqual(entry.side, "client", "\(entry.id): a server entry names its server version")
            }
            XCTAssertFalse(entry.scenarios.isEmpty, "\(entry.id): no scenario")
            XCTAssertFalse(entry.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(entry.id): empty text")
            XCTAssertFalse(entry.reason.trimmingCharacters(in: .whitespaces).isEmpty, "\(entry.id): empty reason")
            XCTAssertTrue(RealReportsCorpusTests.codes.contains(DiagnosisCode(entry.expectedCode)),
                          "\(entry.id): \(entry.expectedCode) is not a diagnosis code of the README")
            let key = "\(entry.side)|\(entry.serverVersion.map(String.init) ?? "-")|\(entry.text)"
            XCTAssertTrue(keys.insert(key).inserted, "\(entry.id): the same text twice for one side and server")
            if entry.side == "server" {
                XCTAssertTrue(entry.text.split(separator: "\n").allSatisfy { $0.hasPrefix("2025-01-01 00:00:00.000 UTC [") || $0.hasPrefix("\t") },
                              "\(entry.id): server lines keep the normalised log prefix")
            } else {
                XCTAssertTrue(entry.text.contains("psql: "), "\(entry.id): psql's message")
            }
            for secret in ["alice-test-secret-pw", "bob-test-secret-pw", "PRIVATE KEY"] {
                XCTAssertFalse(entry.text.contains(secret), "\(entry.id): a secret in the text")
            }
        }
        // Both ends of both servers are there.
        for side in ["client", "server"] {
            for version in [15, 17] {
                XCTAssertTrue(fixture.entries.contains { $0.side == side && $0.serverVersion == version }, "no \(side) entry for PostgreSQL \(version)")
            }
        }
    }

    /// Prints recognised / expected cause first / wrong side over the fixture, with a line per miss.
    func testMeasureExplainOnTheSuitesOwnFailures() throws {
        let fixture = try loadFixture()
        let explainer = MessageExplainer()
        struct Tally {
            var entries = 0, recognised = 0, firstCause = 0, wrongSide = 0, misleading = 0
        }
        var total = Tally()
        var groups: [String: Tally] = [:]
        var misses: [String] = []
        for entry in fixture.entries {
            let findings = explainer.explain(entry.text)
            let codes = findings.flatMap { $0.causes.map(\.code) }
            let first = findings.first?.causes.first?.code
            let expected = DiagnosisCode(entry.expectedCode)
            let expectsNoCause = expected == .unknown
            let recognised = !findings.isEmpty
            // Nothing in the text names a cause: right when nothing is named (or `unknown`).
            let isFirst = expectsNoCause ? (first == nil || first == .unknown) : first == expected
            let wrongSide = first.flatMap(Self.concern).map { found in Self.concern(expected).map { $0 != found } ?? false } ?? false
            let misleading = recognised && !isFirst && (expectsNoCause || !codes.contains(expected))

            let group = "\(entry.side) PostgreSQL \(entry.serverVersion.map(String.init) ?? "-")"
            for key in [nil, group] as [String?] {
                var tally = key.map { groups[$0] ?? Tally() } ?? total
                tally.entries += 1
                tally.recognised += recognised ? 1 : 0
                tally.firstCause += isFirst ? 1 : 0
                tally.wrongSide += wrongSide ? 1 : 0
                tally.misleading += misleading ? 1 : 0
                if let key { groups[key] = tally } else { total = tally }
            }
            guard !isFirst else { continue }
            var verdict = !recognised ? "not recognised"
                : "first \(first?.rawValue ?? "-"), causes [\(RealReportsCorpusTests.unique(codes.map(\.rawValue)).joined(separator: ", "))]"
            if wrongSide, let found = first.flatMap(Self.concern) { verdict += " — WRONG SIDE: about \(found.rawValue)" }
            if misleading { verdict += " — misleading" }
            let line = entry.text.split(separator: "\n").map(String.init).first { !$0.contains("connection received:") } ?? entry.text
            misses.append("  MISS \(entry.id) expected \(entry.expectedCode); \(verdict) | \(line.prefix(140))")
        }
        func describe(_ name: String, _ tally: Tally) -> String {
            "  \(name): \(tally.entries) entries, recognised \(tally.recognised), expected cause first \(tally.firstCause), "
                + "wrong side \(tally.wrongSide), misleading \(tally.misleading)"
        }
        var lines = ["Suite-failures corpus (\(Self.fixtureURL.lastPathComponent)): \(fixture.entries.count) entries",
                     describe("all", total)]
        for key in groups.keys.sorted() { lines.append(describe(key, groups[key]!)) }
        lines.append("Misses (\(misses.count)):")
        lines += misses
        print(lines.joined(separator: "\n"))
        // Issue 13: every line of the suite's own failures, from either end, on the right side and
        // with the cause a reader of that text alone should be told first.
        XCTAssertEqual(total.wrongSide, 0, "explanations about the wrong side of the handshake")
        XCTAssertEqual(total.misleading, 0, "misleading explanations")
        XCTAssertEqual(total.firstCause, total.entries, "entries whose expected cause is not first:\n" + misses.joined(separator: "\n"))
    }
}
