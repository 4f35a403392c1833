#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// postgresql.conf as a PostgreSQL 13–17 server reads it at start-up and on reload
/// (`ProcessConfigFileInternal()`, `ParseConfigFile()`, `ParseConfigFp()`,
/// `ParseConfigDirectory()` in guc-file.l / conffiles.c): the main file with its `include`,
/// `include_if_exists` and `include_dir` directives, then `postgresql.auto.conf` in the data
/// directory (what `ALTER SYSTEM` writes), then `-c name=value` overrides as on the server's
/// command line. A later setting of the same name wins; only the one that wins is validated, as
/// the server does.
///
/// Any ``problems`` stop the server from starting (`FATAL: configuration file "…" contains
/// errors`); on reload, syntax errors and unknown parameters keep every old setting, invalid
/// values keep the old value of that setting only.
public struct ServerConfiguration: Sendable {
    /// Where a setting came from.
    public enum Source: String, Sendable, Hashable {
        /// postgresql.conf or a file it includes.
        case file
        /// postgresql.auto.conf (`ALTER SYSTEM`).
        case autoConf = "auto-conf"
        /// A `-c name=value` override (the server's command line).
        case override
        /// The server's built-in default.
        case `default`
        /// Read from the running server (`pg_settings`).
        case server
    }

    /// One `name = value` line.
    public struct Entry: Sendable, Hashable {
        /// The name as written.
        public var name: String
        /// The value, quotes removed and escapes resolved.
        public var value: String
        /// The file it is in (`-c` for an override).
        public var file: String
        /// Its line number (0 for an override).
        public var line: Int
        /// Which kind of file it came from.
        public var source: Source
    }

    /// A problem the server reports while reading the files, worded as it logs it.
    public struct Problem: Sendable, Hashable {
        /// Syntax, a file that cannot be opened, an unknown parameter, a value the server refuses.
        public enum Kind: String, Sendable, Hashable {
            case syntax, missingFile = "missing-file", unknownParameter = "unknown-parameter", invalidValue = "invalid-value"
        }
        /// What went wrong.
        public var kind: Kind
        /// The file the problem is in.
        public var file: String
        /// 0 when the problem is about a whole file.
        public var line: Int
        /// The server's LOG line, verbatim (`syntax error in file "…" line 3, near token "x"`).
        public var message: String
        /// The server's HINT, when it gives one.
        public var hint: String?
    }

    /// The main configuration file (absolute).
    public var configFile: String
    /// The data directory (absolute).
    public var dataDirectory: String
    /// Every setting read, in the order the server reads them (overrides last).
    public var entries: [Entry] = []
    /// Problems that stop the server (see the type's description).
    public var problems: [Problem] = []
    /// Things the server logs without failing (a missing `include_if_exists` file).
    public var notes: [String] = []
    /// Every configuration file read.
    public var files: [String] = []
    /// The PostgreSQL major version whose rules apply.
    public var majorVersion: Int

    /// `CONF_FILE_MAX_DEPTH`.
    static let maximumDepth = 10

    /// Reads `configFile` (absolute), its includes, then `dataDirectory`'s postgresql.auto.conf,
    /// then `overrides` (`-c` style `name=value`, in order).
    public static func load(configFile: String, dataDirectory: String, majorVersion: Int,
                            overrides: [(name: String, value: String)] = []) -> ServerConfiguration {
        var configuration = ServerConfiguration(configFile: configFile, dataDirectory: dataDirectory, majorVersion: majorVersion)
        configuration.parseFile(configFile, callingFile: nil, depth: 0, strict: true, source: .file)
        configuration.parseFile(AuthFilePath.join(dataDirectory, "postgresql.auto.conf"), callingFile: nil, depth: 0,
                                strict: false, source: .autoConf)
        for (name, value) in overrides {
            configuration.entries.append(Entry(name: name, value: value, file: "-c", line: 0, source: .override))
        }
        // With a syntax error or a missing file the server bails out before checking names and values.
        if configuration.problems.isEmpty { configuration.validate() }
        return configuration
    }

    /// The entry that wins for `name` (case-insensitive, as `guc_name_compare`), if any.
    public func entry(_ name: String) -> Entry? {
        entries.last { $0.name.lowercased() == name.lowercased() }
    }

    /// The effective value of `name` as the server shows it (`SHOW`, `postgres -C`): the winning
    /// entry's, in canonical form for booleans and enums, else the server's default.
    public func value(_ name: String) -> String? {
        guard let entry = entry(name) else { return ServerSettings.defaultValue(name, majorVersion: majorVersion) }
        return ServerSettings.canonical(name: name, value: entry.value, majorVersion: majorVersion)
    }

    /// A boolean setting as the server parses it (`parse_bool`); nil when invalid.
    public func bool(_ name: String) -> Bool? {
        value(name).flatMap(ServerSettings.parseBool)
    }

    /// Where `name`'s value comes from, for a report: `postgresql.conf:12`, `postgresql.auto.conf:3`,
    /// `-c`, or `default`.
    public func origin(_ name: String) -> String {
        guard let entry = entry(name) else { return "default" }
        if entry.source == .override { return "-c" }
        return "\(AuthFilePath.parentDirectory(of: entry.file) == AuthFilePath.parentDirectory(of: configFile) ? HBASimulator.baseName(entry.file) : entry.file):\(entry.line)"
    }

    // MARK: Reading

    /// `ParseConfigFile()`: blank names, nesting deeper than 10 and a file including itself are
    /// errors; a relative name is taken from the including file's directory.
    private mutating func parseFile(_ name: String, callingFile: String?, depth: Int, strict: Bool, source: Source, line: Int = 0) {
        if name.unicodeScalars.allSatisfy({ [" ", "\t", "\r", "\n"].contains($0) }) {
            problems.append(Problem(kind: .missingFile, file: callingFile ?? name, line: line,
                                    message: "empty configuration file name: \"\(name)\""))
            return
        }
        if depth > Self.maximumDepth {
            problems.append(Problem(kind: .missingFile, file: callingFile ?? name, line: line,
                                    message: "could not open configuration file \"\(name)\": maximum nesting depth exceeded"))
            return
        }
        var path = name
        if !path.hasPrefix("/"), let callingFile { path = AuthFilePath.resolve(path, relativeTo: callingFile) }
        path = AuthFilePath.canonicalize(path)
        if let callingFile, path == callingFile {
            problems.append(Problem(kind: .missingFile, file: callingFile, line: line,
                                    message: "configuration file recursion in \"\(callingFile)\""))
            return
        }
        switch AuthFileReader.read(path: path) {
        case .contents(let text):
            if !files.contains(path) { files.append(path) }
            parseContents(text, path: path, depth: depth, source: source)
        case .missing(let message):
            if strict {
                problems.append(Problem(kind: .missingFile, file: callingFile ?? path, line: 0,
                                        message: message.replacingFirst("could not open file", with: "could not open configuration file")))
            } else if source != .autoConf {
                notes.append("skipping missing configuration file \"\(path)\"")
            }
        case .failed(let message):
            problems.append(Problem(kind: .missingFile, file: callingFile ?? path, line: 0,
                                    message: message.replacingFirst("could not open file", with: "could not open configuration file")))
        }
    }

    private mutating func parseDirectory(_ name: String, callingFile: String, depth: Int, source: Source, line: Int) {
        var directory = name
        if !directory.hasPrefix("/") { directory = AuthFilePath.resolve(directory, relativeTo: callingFile) }
        switch AuthFileReader.confFiles(inDirectory: directory) {
        case .success(let names):
            for file in names { parseFile(file, callingFile: callingFile, depth: depth + 1, strict: true, source: source) }
        case .failure:
            let reason = AuthFileReader.errorText(errno)
            problems.append(Problem(kind: .missingFile, file: callingFile, line: line,
                                    message: "could not open configuration directory \"\(directory)\": \(reason)"))
        }
    }

    /// `ParseConfigFp()`: one statement per line, `name [=] value`, errors collected line by line
    /// (at most 100 per file, then the server abandons the file).
    private mutating func parseContents(_ text: String, path: String, depth: Int, source: Source) {
        var errors = 0
        var lineNumber = 0
        for rawLine in text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let tokens = ServerConfigLexer.tokens(Array(rawLine))
            if tokens.isEmpty { continue }
            func syntaxError(near token: ServerConfigLexer.Token?) {
                let place = token.map { "near token \"\($0.text)\"" } ?? "near end of line"
                problems.append(Problem(kind: .syntax, file: path, line: lineNumber,
                                        message: "syntax error in file \"\(path)\" line \(lineNumber), \(place)"))
                errors += 1
            }
            var index = 0
            let nameToken = tokens[index]
            guard nameToken.kind == .id || nameToken.kind == .qualifiedID else {
                syntaxError(near: nameToken)
                if errors >= 100 { break } else { continue }
            }
            index += 1
            if index < tokens.count, tokens[index].kind == .equals { index += 1 }
            guard index < tokens.count else {
                syntaxError(near: nil)
                if errors >= 100 { break } else { continue }
            }
            let valueToken = tokens[index]
            guard [.id, .string, .integer, .real, .unquotedString].contains(valueToken.kind) else {
                syntaxError(near: valueToken)
                if errors >= 100 { break } else { continue }
            }
            index += 1
            if index < tokens.count {
                syntaxError(near: tokens[index])
                if errors >= 100 { break } else { continue }
            }
            let value = valueToken.kind == .string ? ServerConfigLexer.unquote(valueToken.text) : valueToken.text
            let directive = nameToken.text.lowercased()
            switch directive {
            case "include_dir":
                parseDirectory(value, callingFile: path, depth: depth, source: source, line: lineNumber)
            case "include_if_exists":
                parseFile(value, callingFile: path, depth: depth + 1, strict: false, source: source, line: lineNumber)
            case "include":
                parseFile(value, callingFile: path, depth: depth + 1, strict: true, source: source, line: lineNumber)
            default:
                entries.append(Entry(name: nameToken.text, value: value, file: path, line: lineNumber, source: source))
            }
        }
        if errors >= 100 {
            problems.append(Problem(kind: .syntax, file: path, line: 0, message: "too many syntax errors found, abandoning file \"\(path)\""))
        }
    }

    // MARK: Checking

    /// `ProcessConfigFileInternal()`: names first (an unknown one stops everything), then the value
    /// of each name's last entry.
    private mutating func validate() {
        var seen: Set<String> = []
        var found: [Problem] = []
        for entry in entries.reversed() {
            let key = entry.name.lowercased()
            guard seen.insert(key).inserted else { continue }
            switch ServerSettings.check(name: entry.name, value: entry.value, majorVersion: majorVersion) {
            case .ok: break
            case .unknown:
                found.append(Problem(kind: .unknownParameter, file: entry.file, line: entry.line,
                                        message: entry.source == .override
                                            ? "unrecognized configuration parameter \"\(entry.name)\""
                                            : "unrecognized configuration parameter \"\(entry.name)\" in file \"\(entry.file)\" line \(entry.line)"))
            case .invalid(let message, let hint):
                found.append(Problem(kind: .invalidValue, file: entry.file, line: entry.line, message: message, hint: hint))
            }
        }
        // Unknown names are reported before any value is checked (the server bails out first).
        let unknown = found.filter { $0.kind == .unknownParameter }
        problems += unknown.reversed() + (unknown.isEmpty ? found.reversed() : [])
    }
}

extension String {
    /// The string with the first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstScalarRange(of: target) else { return self }
        var copy = self
        copy.replaceSubrange(range, with: replacement)
        return copy
    }
}
