import Foundation
import XCTest

/// One run of the built `pgconnect-check`, as a person or a script runs it.
struct CLIRun {
    var status: Int32
    var stdout: String
    var stderr: String

    /// stdout parsed as one JSON object.
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }

    /// `json["diagnosis"]`, or nil when it is null or absent.
    var diagnosis: [String: Any]? { json?["diagnosis"] as? [String: Any] }

    /// The warning codes in the JSON report.
    var warningCodes: [String] { (json?["warnings"] as? [[String: Any]])?.compactMap { $0["code"] as? String } ?? [] }

    /// The built binary, next to the test bundle in .build/<configuration>/.
    static var binary: URL {
        var directory = Bundle.main.bundleURL
        if !FileManager.default.fileExists(atPath: directory.appendingPathComponent("pgconnect-check").path) {
            directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return directory.appendingPathComponent("pgconnect-check")
    }

    /// Runs the binary with `arguments`, no `PG*` variables from the test's environment, and no stdin.
    /// `user` runs it as another OS user through runuser (the test runs as root); `launcher` is a
    /// command that runs the rest (e.g. `timeout 5 scripts/netns.sh client NAME`).
    static func run(_ arguments: [String], environment: [String: String] = [:], executable: URL? = nil,
                    user: String? = nil, launcher: [String] = [], validatesSchema: Bool = true) throws -> CLIRun {
        let process = Process()
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("PG") { env[key] = nil }
        env.merge(environment) { $1 }
        var command = [(executable ?? Self.binary).path] + arguments
        if let user { command = ["/usr/sbin/runuser", "-u", user, "--"] + command }
        command = launcher + command
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Nothing may hang: a run still going after 90 s is killed, and the test fails on its status.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        defer { watchdog.cancel() }
        // Read both pipes concurrently so a full stderr pipe never blocks the child.
        let errData = LockedData()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.isSet { usleep(1000) }
        let run = CLIRun(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: errData.value, as: UTF8.self))
        // No test secret — the key passphrase "secret", the role passwords, key material — may
        // appear in any output of any run of the whole matrix.
        for output in [run.stdout, run.stderr] {
            let secretWord = output.range(of: #"\bsecret\b"#, options: .regularExpression) != nil
            XCTAssertFalse(secretWord || output.contains("test-secret") || output.contains("hunter2")
                           || output.contains("PRIVATE KEY"), "a secret leaked into the output of \(arguments): \(output)")
        }
        // Every check report the suite produces must match docs/report.schema.json (server reports
        // docs/server-report.schema.json).
        let isCheck = !["inspect", "explain"].contains(arguments.first ?? "")
        if validatesSchema, isCheck, arguments.contains("json"), run.status != 64 {
            if let json = try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) {
                // `server` reports follow docs/server-report.schema.json.
                let validator = arguments.first == "server" ? SchemaValidator.server : SchemaValidator.report
                let problems = validator.validate(json)
                XCTAssertTrue(problems.isEmpty, "the report does not match docs/report.schema.json: \(problems)")
            } else {
                XCTFail("stdout is not JSON: \(run.stdout)")
            }
        }
        return run
    }
}

/// `@unchecked Sendable`: every access goes through `lock`.
private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    func set(_ value: Data) { lock.withLock { data = value } }
    var isSet: Bool { lock.withLock { data != nil } }
    var value: Data { lock.withLock { data ?? Data() } }
}
