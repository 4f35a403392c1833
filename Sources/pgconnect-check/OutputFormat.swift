#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `--format text|json` (explain, inspect).
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `--format text|json|openmetrics` (check).
enum CheckOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, openmetrics
}

/// `--sslpassword-file FILE`: the first line of FILE, never echoed.
enum PassphraseFile {
    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read --sslpassword-file \(path): check the path and its permissions")
        }
        var status = stat()
        if stat(path, &status) == 0, status.st_mode & 0o077 != 0 {
            StandardStreams.writeError("warning: --sslpassword-file \(path) is readable by others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 \(path)\n")
        }
        let text = String(decoding: data, as: UTF8.self)
        return String(text.prefix { $0 != "\n" && $0 != "\r" })
    }
}
