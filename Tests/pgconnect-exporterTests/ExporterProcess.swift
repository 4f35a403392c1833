import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// The built `pgconnect-exporter` started as a real process on 127.0.0.1 (any free port, read
/// from the line it prints), and HTTP requests to it.
final class ExporterProcess: @unchecked Sendable {  // `process` and `base` are set once in init
    let process: Process
    let base: URL
    private let stderrFile: URL

    /// The built binary named `name`, next to the test bundle in .build/<configuration>/.
    static func binary(_ name: String) -> URL {
        var directory = Bundle.main.bundleURL
        if !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) {
            directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return directory.appendingPathComponent(name)
    }

    struct StartError: Error, CustomStringConvertible { var description: String }

    /// Starts the exporter with `arguments` (plus `--port 0`) and waits for it to listen; no `PG*`
    /// variables from the test's environment, but those of `environment`.
    init(_ arguments: [String], environment extra: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = Self.binary("pgconnect-exporter")
        process.arguments = arguments + ["--port", "0"]
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("PG") { environment[key] = nil }
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("exporter-\(UUID()).err")
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
        // "pgconnect-exporter: listening on http://127.0.0.1:PORT"; a dead or silent exporter fails in 30 s.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        watchdog.cancel()
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: "listening on "), let url = URL(string: String(text[range.upperBound...])) else {
            process.waitUntilExit()
            let errors = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            throw StartError(description: "the exporter did not start: \(text)\n\(errors)")
        }
        base = url
    }

    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// GET `path` (with its query); the status and the body.
    func get(_ path: String) async throws -> (status: Int, body: String, contentType: String?) {
        let url = URL(string: base.absoluteString + path)!
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), http?.value(forHTTPHeaderField: "Content-Type"))
    }

    /// SIGTERM, as a service manager stops it; the exit status.
    func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: stderrFile)
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
