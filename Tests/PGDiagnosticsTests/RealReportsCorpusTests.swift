import Foundation
import XCTest
@testable import PGDiagnostics

/// Measures `explain` (the API `pgconnect-check explain` uses) on real error reports from public
/// threads whose cause the thread itself established (`Corpus/real-reports.json`, see its README).
///
/// The figures are printed, not asserted: issue 13 raises them. The test fails only when the corpus
/// is malformed or has fewer than 80 entries.
final class RealReportsCorpusTests: XCTestCase {
    struct Entry: Decodable {
        var id: String
        var source: String
        var kind: String
        var side: String
        var text: String
        var establishedCause: String
        var expectedCode: String
        var note: String?

        enum CodingKeys: String, CodingKey {
            case id, source, kind, side, text, note
            case establishedCause = "established_cause"
            case expectedCode = "expected_code"
        }
    }

    static let minimumEntries = 80
    static let kinds: Set<String> = ["client-libpq", "server-log", "other-client"]
    /// The codes of README.md "Diagnosis codes".
    static let codes: Set<DiagnosisCode> = [
        .invalidConninfo, .unsupportedOption,
        .certFileMissing, .keyFileMissing, .rootCertMissing, .fileUnreadable, .keyPermissions, .keyEncrypted,
        .keyCertMismatch, .certUnparsable, .clientCertExpired, .clientCertNotYetValid, .clientCertWrongUsage,
        .clientCertChainIncomplete,
        .hostUnresolved, .connectionRefused, .timeout, .sslNotSupported,
        .serverCertUntrusted, .serverNameMismatch, .serverCertExpired, .serverCertRevoked, .clientCertUnknownCA,
        .clientCertRevoked, .clientCertRejected, .tlsVersionMismatch,
        .hbaNoEntry, .hbaReject, .passwordRequired, .passwordFailed, .clientCertRequired, .certNameMismatch,
        .identMapNoMatch, .serverNoCA,
        .roleMissing, .roleCannotLogin, .databaseMissing, .connectDenied,
        .unknown,
    ]

    static var corpusURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus/real-reports.json")
    }

    func loadCorpus() throws -> [Entry] {
        let data = try Data(contentsOf: Self.corpusURL)
        return try JSONDecoder().decode([Entry].self, from: data)
    }

    func testCorpusIsWellFormed() throws {
        let entries = try loadCorpus()
        XCTAssertGreaterThanOrEqual(entries.count, Self.minimumEntries, "the corpus needs at least \(Self.minimumEntries) entries")
        var ids = Set<String>()
        for entry in entries {
            XCTAssertTrue(ids.insert(entry.id).inserted, "duplicate id \(entry.id)")
            XCTAssertFalse(entry.id.isEmpty)
            XCTAssertTrue(entry.source.hasPrefix("https://") || entry.source.hasPrefix("http://"), "\(entry.id): source is not an address")
            XCTAssertTrue(Self.kinds.contains(entry.kind), "\(entry.id): kind \(entry.kind) is not one of \(Self.kinds.sorted())")
            XCTAssertFalse(entry.side.trimmingCharacters(in: .whitespaces).isEmpty, "\(entry.id): empty side")
            XCTAssertFalse(entry.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(entry.id): empty text")
            XCTAssertFalse(entry.establishedCause.trimmingCharacters(in: .whitespaces).isEmpty, "\(entry.id): empty established_cause")
            XCTAssertTrue(Self.codes.contains(DiagnosisCode(entry.expectedCode)), "\(entry.id): \(entry.expectedCode) is not a diagnosis code")
            if let note = entry.note { XCTAssertFalse(note.trimmingCharacters(in: .whitespaces).isEmpty, "\(entry.id): empty note") }
        }
    }

    /// Prints recognised / first cause / misleading over the corpus, with a line per miss.
    func testMeasureExplainOnRealReports() throws {
        let entries = try loadCorpus()
        guard entries.count >= Self.minimumEntries else {
            return XCTFail("the corpus has \(entries.count) entries, fewer than \(Self.minimumEntries)")
        }
        let explainer = MessageExplainer()
        var recognised = 0, firstCause = 0, misleading = 0
        var missLines: [String] = []
        var byKind: [String: (entries: Int, recognised: Int, firstCause: Int, misleading: Int)] = [:]

        for entry in entries {
            let findings = explainer.explain(entry.text)
            let codes = findings.flatMap { $0.causes.map(\.code.rawValue) }
            let first = findings.first?.causes.first?.code.rawValue
            let isRecognised = !findings.isEmpty
            let isFirst = first == entry.expectedCode
            let isMisleading = isRecognised && !codes.contains(entry.expectedCode)
            recognised += isRecognised ? 1 : 0
            firstCause += isFirst ? 1 : 0
            misleading += isMisleading ? 1 : 0
            var tally = byKind[entry.kind] ?? (0, 0, 0, 0)
            tally.entries += 1
            tally.recognised += isRecognised ? 1 : 0
            tally.firstCause += isFirst ? 1 : 0
            tally.misleading += isMisleading ? 1 : 0
            byKind[entry.kind] = tally

            guard !isFirst else { continue }
            let verdict: String
            if !isRecognised {
                verdict = "not recognised"
            } else if isMisleading {
                verdict = "misleading: causes [\(Self.unique(codes).joined(separator: ", "))]"
            } else {
                verdict = "expected cause not first: causes [\(Self.unique(codes).joined(separator: ", "))]"
            }
            let firstLine = entry.text.split(separator: "\n").first.map(String.init) ?? ""
            missLines.append("  MISS \(entry.id) [\(entry.kind)] expected \(entry.expectedCode); \(verdict) | \(firstLine.prefix(110))")
        }

        func percent(_ count: Int, _ total: Int) -> String {
            String(format: "%.0f%%", total == 0 ? 0 : Double(count) * 100 / Double(total))
        }
        var lines = ["Real-reports corpus: \(entries.count) entries (\(Self.corpusURL.lastPathComponent))",
                     "  recognised (any cause):        \(recognised)/\(entries.count) (\(percent(recognised, entries.count)))",
                     "  first cause == expected_code:  \(firstCause)/\(entries.count) (\(percent(firstCause, entries.count)))",
                     "  misleading (expected absent):  \(misleading)/\(entries.count) (\(percent(misleading, entries.count)))"]
        for kind in byKind.keys.sorted() {
            let tally = byKind[kind]!
            lines.append("  \(kind): \(tally.entries) entries, recognised \(tally.recognised), first cause \(tally.firstCause), misleading \(tally.misleading)")
        }
        lines.append("Misses (\(missLines.count)):")
        lines += missLines
        print(lines.joined(separator: "\n"))
    }

    static func unique(_ codes: [String]) -> [String] {
        var seen = Set<String>()
        return codes.filter { seen.insert($0).inserted }
    }
}
