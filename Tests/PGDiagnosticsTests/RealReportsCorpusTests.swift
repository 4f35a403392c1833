import Foundation
import XCTest
@testable import PGDiagnostics

/// Measures `explain` (the API `pgconnect-check explain` uses) on real error reports from public
/// threads whose cause the thread itself established (`Corpus/`, see its README): the reports the
/// knowledge base was written from (`real-reports.json`) and, separately, held-out reports it was
/// not written from (`held-out-reports.json`).
///
/// The figures are printed, not asserted: issue 13 raises them. The tests fail only when a corpus
/// file is malformed, has fewer entries than its minimum, or shares a report with the other file.
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

    /// One corpus file and the least number of entries it must hold.
    struct Corpus {
        var label: String
        var fileName: String
        var minimumEntries: Int

        var url: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus/\(fileName)")
        }
    }

    /// The reports the knowledge base was written from.
    static let realReports = Corpus(label: "Real-reports", fileName: "real-reports.json", minimumEntries: 80)
    /// Reports the knowledge base was not written from: the honest measure of `explain`.
    static let heldOut = Corpus(label: "Held-out", fileName: "held-out-reports.json", minimumEntries: 30)
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
        // pgconnect-check server's codes for the server's own files and configuration.
        .serverCertMissing, .serverCertInvalid, .serverCertTooWeak, .serverFileUnreadable, .serverKeyPermissions,
        .serverKeyCertMismatch, .hbaInvalidLine, .hbaLineNeverMatches,
    ]

    func load(_ corpus: Corpus) throws -> [Entry] {
        let data = try Data(contentsOf: corpus.url)
        return try JSONDecoder().decode([Entry].self, from: data)
    }

    func testCorpusIsWellFormed() throws {
        let real = try load(Self.realReports)
        let heldOut = try load(Self.heldOut)
        checkWellFormed(real, Self.realReports)
        checkWellFormed(heldOut, Self.heldOut)

        // Held out means held out: no thread and no id in both files.
        let realSources = Set(real.map(\.source)), realIDs = Set(real.map(\.id))
        for entry in heldOut {
            XCTAssertFalse(realSources.contains(entry.source), "\(entry.id): \(entry.source) is already in \(Self.realReports.fileName)")
            XCTAssertFalse(realIDs.contains(entry.id), "\(entry.id): the id is already in \(Self.realReports.fileName)")
        }
    }

    func checkWellFormed(_ entries: [Entry], _ corpus: Corpus) {
        XCTAssertGreaterThanOrEqual(entries.count, corpus.minimumEntries, "\(corpus.fileName) needs at least \(corpus.minimumEntries) entries")
        var ids = Set<String>()
        for entry in entries {
            XCTAssertTrue(ids.insert(entry.id).inserted, "\(corpus.fileName): duplicate id \(entry.id)")
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

    /// Prints recognised / first cause / misleading over each corpus, with a line per miss: first the
    /// reports the knowledge base was written from, then the held-out ones.
    /// Prints the figures of both corpora. The repository's corpus must meet issue 13's bar
    /// (95% recognised, 85% with the established cause first, none misleading); the held-out one
    /// is printed only — it measures what the knowledge base was not written from.
    func testMeasureExplainOnRealReports() throws {
        var lines: [String] = []
        for corpus in [Self.realReports, Self.heldOut] {
            let entries = try load(corpus)
            guard entries.count >= corpus.minimumEntries else {
                return XCTFail("\(corpus.fileName) has \(entries.count) entries, fewer than \(corpus.minimumEntries)")
            }
            let start = ContinuousClock.now
            lines += measure(entries, corpus)
            let perMessage = (ContinuousClock.now - start) / entries.count
            lines.append("  time per message (this build): \(perMessage.formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 2))))")
            guard corpus.fileName == Self.realReports.fileName else { continue }
            let figures = tally(entries)
            XCTAssertGreaterThanOrEqual(Double(figures.recognised), 0.95 * Double(entries.count), "recognised")
            XCTAssertGreaterThanOrEqual(Double(figures.firstCause), 0.85 * Double(entries.count), "established cause first")
            XCTAssertEqual(figures.misleading, 0, "misleading")
        }
        print(lines.joined(separator: "\n"))
    }

    func tally(_ entries: [Entry]) -> (recognised: Int, firstCause: Int, misleading: Int) {
        let explainer = MessageExplainer()
        var result = (recognised: 0, firstCause: 0, misleading: 0)
        for entry in entries {
            let findings = explainer.explain(entry.text)
            let codes = findings.flatMap { $0.causes.map(\.code.rawValue) }
            result.recognised += findings.isEmpty ? 0 : 1
            result.firstCause += findings.first?.causes.first?.code.rawValue == entry.expectedCode ? 1 : 0
            result.misleading += !findings.isEmpty && !codes.contains(entry.expectedCode) ? 1 : 0
        }
        return result
    }

    func measure(_ entries: [Entry], _ corpus: Corpus) -> [String] {
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
        var lines = ["\(corpus.label) corpus: \(entries.count) entries (\(corpus.fileName))",
                     "  recognised (any cause):        \(recognised)/\(entries.count) (\(percent(recognised, entries.count)))",
                     "  first cause == expected_code:  \(firstCause)/\(entries.count) (\(percent(firstCause, entries.count)))",
                     "  misleading (expected absent):  \(misleading)/\(entries.count) (\(percent(misleading, entries.count)))"]
        for kind in byKind.keys.sorted() {
            let tally = byKind[kind]!
            lines.append("  \(kind): \(tally.entries) entries, recognised \(tally.recognised), first cause \(tally.firstCause), misleading \(tally.misleading)")
        }
        lines.append("\(corpus.label) misses (\(missLines.count)):")
        lines += missLines
        return lines
    }

    static func unique(_ codes: [String]) -> [String] {
        var seen = Set<String>()
        return codes.filter { seen.insert($0).inserted }
    }
}
