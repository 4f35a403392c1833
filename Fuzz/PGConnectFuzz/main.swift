// pgconnect-fuzz: a generated-input loop over the parsers and inspectors that take untrusted
// input. Deterministic for a seed; stops at the first property violation with the input.
//
//   pgconnect-fuzz conninfo|uri|hba|ident|certificate [ITERATIONS] [SEED]
import Foundation
import PGConnect
import PGDiagnostics
import PGTestSupport

typealias Generator = SeededGenerator

extension SeededGenerator {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

let pieces = [" ", "'", "\\", "=", "\"", "\t", "\n", "#", ",", "/", ":", "@", "%", "%2", "%zz", "&", "?", "é", "🔐", "a", "Z", "0",
              "all", "+", "@file", "samehost", "127.0.0.1/32", "::1/128", "/^(.*)$", "\\1", "cert", "map=m", "clientcert=verify-full",
              "hostssl", "include", "[", "]", "{", "}", "(", ")", "*", "$", "^", "\u{0}", "\u{7F}", "ÿ"]

func randomText(_ g: inout Generator, maxPieces: Int = 16) -> String {
    (0..<g.below(maxPieces)).map { _ in g.pick(pieces) }.joined()
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("pgconnect-fuzz: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: pgconnect-fuzz conninfo|uri|hba|ident|certificate [ITERATIONS] [SEED]") }
let mode = arguments[1]
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 100_000 : 100_000
var g = Generator(seed: arguments.count > 3 ? UInt64(arguments[3]) ?? 1 : 1)
let keywords = ["host", "user", "dbname", "sslcert", "sslkey", "sslrootcert", "application_name", "options", "password", "sslpassword"]
let started = Date()

switch mode {
case "conninfo", "uri":
    for i in 0..<iterations {
        var values: [String: String] = [:]
        for _ in 0..<(1 + g.below(3)) { values[g.pick(keywords)] = randomText(&g).replacingOccurrences(of: "\u{0}", with: "") }
        let options = ConnectionOptions(values)
        guard let rendered = try? (mode == "uri" ? options.uriString() : options.conninfoString()) else { fail("render failed at \(i): \(values)") }
        guard let parsed = try? ConnectionOptions(conninfo: rendered), parsed.values == values else {
            fail("round trip failed at \(i): \(values.debugDescription) rendered as \(rendered.debugDescription)")
        }
        // Arbitrary text must parse or fail cleanly.
        _ = try? ConnectionOptions(conninfo: randomText(&g, maxPieces: 24))
    }
case "hba", "ident":
    for _ in 0..<iterations {
        let text = (0..<(1 + g.below(4))).map { _ in randomText(&g, maxPieces: 12) }.joined(separator: g.pick(["\n", "\\\n", " "]))
        if mode == "hba" {
            let file = HBAFile.parse(text, path: "fuzz/pg_hba.conf")
            let simulator = HBASimulator(rules: file.rules, mappings: IdentFile.parse(randomText(&g), path: "fuzz/pg_ident.conf").mappings)
            _ = simulator.simulate(.init(clientAddress: g.pick(["127.0.0.1", "::1", "10.1.2.3"]), database: g.pick(["db", "all", ""]),
                                         user: g.pick(["alice", "bob", ""]), certificateCommonName: g.pick(["alice", "a@b", nil]),
                                         certificateDN: g.pick(["CN=alice,O=x", nil])))
        } else {
            _ = IdentFile.parse(text, path: "fuzz/pg_ident.conf")
        }
    }
case "certificate":
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgconnect-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let seeds = arguments.count > 4 ? Array(arguments[4...]) : []
    let corpus: [[UInt8]] = seeds.compactMap { FileManager.default.contents(atPath: $0).map { Array($0) } }
        + [Array("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8)]
    let path = directory.appendingPathComponent("input.pem").path
    let inspector = FileInspector()
    for _ in 0..<iterations {
        var bytes = g.pick(corpus)
        for _ in 0..<(1 + g.below(8)) where !bytes.isEmpty {
            let position = g.below(bytes.count)
            switch g.below(3) {
            case 0: bytes[position] = UInt8(truncatingIfNeeded: g.next())
            case 1: bytes.remove(at: position)
            default: bytes.insert(UInt8(truncatingIfNeeded: g.next()), at: position)
            }
        }
        // Plain open/write: FileManager writes atomically (a temporary file and a rename) — slow here.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0, write(fd, bytes, bytes.count) == bytes.count else { fail("cannot write \(path)") }
        close(fd)
        _ = inspector.inspect([path], passphrase: g.pick(["", "secret", nil]))
    }
default:
    fail("unknown mode \(mode)")
}
print("pgconnect-fuzz \(mode): \(iterations) inputs, no failure, \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
