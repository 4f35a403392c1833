#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which of the two authentication files is being read; only changes how version notes are worded.
enum AuthFileKind {
    case hba
    case ident

    var includeOnOldServers: String {
        switch self {
        case .hba: return "PostgreSQL 15 reads it as a rule and reports: invalid connection type"
        case .ident: return "PostgreSQL 15 reads it as a mapping and reports: missing entry at end of line"
        }
    }
}

/// One logical line after tokenization (`TokenizedAuthLine` in hba.h).
struct TokenizedAuthLine {
    var file: String
    var lineNumber: Int
    /// The line as written, continuations joined (backslash-newline removed).
    var rawLine: String
    /// Fields, each a list of tokens (a comma-separated list in the file).
    var fields: [[HBAToken]]
    var errorMessage: String?
}

/// `tokenize_auth_file()`, `next_field_expand()`, `next_token()`, `tokenize_expand_file()` and
/// `tokenize_include_file()` from src/backend/libpq/hba.c (PostgreSQL 16/17 structure; 15 differs only
/// in the include directives and the 255-byte token limit, which are recorded as notes).
struct AuthFileTokenizer {
    /// `CONF_FILE_MAX_DEPTH` (utils/conffiles.h).
    static let maximumDepth = 10

    let kind: AuthFileKind
    /// Every file read, in the order first read.
    private(set) var files: [String] = []
    private(set) var notes: [AuthFileNote] = []
    /// The files being tokenized right now, outermost first (to name include loops).
    private var stack: [String] = []

    init(kind: AuthFileKind) {
        self.kind = kind
    }

    /// Reads and tokenizes the top-level file, following includes and `@` files from disk.
    mutating func tokenizeFile(at path: String) -> (lines: [TokenizedAuthLine], error: AuthFileError?) {
        switch AuthFileReader.read(path: path) {
        case .contents(let text):
            return (tokenizeTopLevel(contents: text, path: path), nil)
        case .missing(let message), .failed(let message):
            return ([], AuthFileError(file: path, line: 0, message: message))
        }
    }

    /// Tokenizes the given contents as the top-level file `path`; includes and `@` files are read from
    /// disk relative to `path`'s directory.
    mutating func tokenizeTopLevel(contents: String, path: String) -> [TokenizedAuthLine] {
        record(file: path)
        stack = [Self.identity(path)]
        defer { stack = [] }
        return tokenize(contents: contents, path: path, depth: 0)
    }

    private mutating func record(file: String) {
        if !files.contains(file) { files.append(file) }
    }

    // MARK: tokenize_auth_file

    private mutating func tokenize(contents: String, path: String, depth: Int) -> [TokenizedAuthLine] {
        let bytes = Array(contents.utf8)
        var output: [TokenizedAuthLine] = []
        var position = 0
        var lineNumber = 1
        while position < bytes.count {
            // Collect the next logical line, handling backslash continuations (pg_get_line_append,
            // pg_strip_crlf): the backslash must be after the last place a continuation was found.
            var buffer: [UInt8] = []
            var lastBackslashLength = 0
            var continuations = 0
            while position < bytes.count {
                var end = position
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                let next = end < bytes.count ? end + 1 : end
                buffer.append(contentsOf: bytes[position..<end])
                position = next
                // The C string ends at a NUL byte (strlen in pg_strip_crlf).
                if let nul = buffer.firstIndex(of: 0) { buffer.removeSubrange(nul...) }
                while let last = buffer.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") {
                    buffer.removeLast()
                }
                if buffer.count > lastBackslashLength, buffer.last == UInt8(ascii: "\\") {
                    buffer.removeLast()
                    lastBackslashLength = buffer.count
                    continuations += 1
                    continue
                }
                break
            }
            defer { lineNumber += continuations + 1 }

            var fields: [[HBAToken]] = []
            var error: String?
            var longToken = false
            var cursor = 0
            while cursor < buffer.count && error == nil {
                let field = nextFieldExpand(buffer, &cursor, path: path, depth: depth, error: &error, longToken: &longToken)
                if !field.isEmpty { fields.append(field) }
            }
            if fields.isEmpty && error == nil { continue }
            let rawLine = String(decoding: buffer, as: UTF8.self)
            if longToken {
                notes.append(AuthFileNote(
                    file: path, line: lineNumber, kind: .requiresServerVersion(16),
                    message: "a token is longer than 255 bytes: PostgreSQL 15 rejects the line (\"authentication file token too long\")"))
            }

            if error == nil, fields.count == 2 {
                let directive = fields[0][0].value
                let target = fields[1][0].value
                if directive == "include" || directive == "include_if_exists" || directive == "include_dir" {
                    notes.append(AuthFileNote(
                        file: path, line: lineNumber, kind: .requiresServerVersion(16),
                        message: "\"\(directive)\" needs PostgreSQL 16 or later; \(kind.includeOnOldServers)"))
                    var includeError: String?
                    if directive == "include_dir" {
                        includeError = includeDirectory(target, from: path, line: lineNumber, depth: depth + 1, into: &output)
                    } else {
                        includeError = includeFile(target, from: path, line: lineNumber, depth: depth + 1,
                                                   missingOK: directive == "include_if_exists", into: &output)
                    }
                    guard let includeError else { continue }
                    error = includeError
                }
            }
            output.append(TokenizedAuthLine(file: path, lineNumber: lineNumber, rawLine: rawLine,
                                            fields: fields, errorMessage: error))
        }
        return output
    }

    // MARK: next_field_expand / next_token

    private mutating func nextFieldExpand(_ line: [UInt8], _ cursor: inout Int, path: String, depth: Int,
                                          error: inout String?, longToken: inout Bool) -> [HBAToken] {
        var tokens: [HBAToken] = []
        while true {
            guard let token = Self.nextToken(line, &cursor, longToken: &longToken) else { break }
            if !token.initialQuote, token.bytes.count > 1, token.bytes[0] == UInt8(ascii: "@") {
                let name = String(decoding: token.bytes.dropFirst(), as: UTF8.self)
                tokens += expandFile(name, from: path, depth: depth + 1, error: &error)
            } else {
                tokens.append(HBAToken(value: String(decoding: token.bytes, as: UTF8.self), quoted: token.initialQuote))
            }
            if !token.terminatingComma || error != nil { break }
        }
        return tokens
    }

    struct RawToken {
        var bytes: [UInt8]
        var initialQuote: Bool
        var terminatingComma: Bool
    }

    /// `next_token()`: blanks are space, tab and CR; commas separate tokens; `#` outside quotes ends the
    /// line; `""` inside quotes is a literal quote; an unterminated quote takes the rest of the line.
    static func nextToken(_ line: [UInt8], _ cursor: inout Int, longToken: inout Bool) -> RawToken? {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), hash = UInt8(ascii: "#")
        func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D }
        while cursor < line.count && (isBlank(line[cursor]) || line[cursor] == comma) { cursor += 1 }
        var buffer: [UInt8] = []
        var inQuote = false, wasQuote = false, sawQuote = false
        var initialQuote = false, terminatingComma = false
        while cursor < line.count {
            let c = line[cursor]
            if isBlank(c) && !inQuote { break }
            if c == hash && !inQuote {
                cursor = line.count
                break
            }
            // PostgreSQL 15 (MAX_TOKEN 256) fails here once 255 bytes are collected.
            if buffer.count >= 255 { longToken = true }
            if c == comma && !inQuote {
                terminatingComma = true
                break
            }
            if c != quote || wasQuote { buffer.append(c) }
            if inQuote && c == quote { wasQuote.toggle() } else { wasQuote = false }
            if c == quote {
                inQuote.toggle()
                sawQuote = true
                if buffer.isEmpty { initialQuote = true }
            }
            cursor += 1
        }
        guard sawQuote || !buffer.isEmpty else { return nil }
        return RawToken(bytes: buffer, initialQuote: initialQuote, terminatingComma: terminatingComma)
    }

    // MARK: files

    /// `open_auth_file()` plus the simulator's own guards (loop naming, size, file type).
    private mutating func open(_ fullPath: String, depth: Int) -> AuthFileReader.ReadResult {
        if depth > Self.maximumDepth {
            return .failed(message: "could not open file \"\(fullPath)\": maximum nesting depth exceeded")
        }
        if let start = stack.firstIndex(of: Self.identity(fullPath)) {
            let chain = (stack[start...] + [fullPath]).map(Self.shortName).joined(separator: " → ")
            return .failed(message: "could not open file \"\(fullPath)\": maximum nesting depth exceeded (include loop: \(chain))")
        }
        return AuthFileReader.read(path: fullPath)
    }

    /// The absolute, canonical spelling of a path, so one file reached by two spellings is one file.
    private static func identity(_ path: String) -> String {
        if path.hasPrefix("/") { return AuthFilePath.canonicalize(path) }
        return AuthFilePath.canonicalize(AuthFilePath.join(FileManager.default.currentDirectoryPath, path))
    }

    private static func shortName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// `tokenize_expand_file()`: the tokens of every field of every line of an `@` file, flattened.
    private mutating func expandFile(_ name: String, from outer: String, depth: Int, error: inout String?) -> [HBAToken] {
        let fullPath = AuthFilePath.resolve(name, relativeTo: outer)
        switch open(fullPath, depth: depth) {
        case .missing(let message), .failed(let message):
            error = message
            return []
        case .contents(let text):
            record(file: fullPath)
            stack.append(Self.identity(fullPath))
            let lines = tokenize(contents: text, path: fullPath, depth: depth)
            stack.removeLast()
            var tokens: [HBAToken] = []
            for line in lines {
                if let message = line.errorMessage {
                    error = message
                    break
                }
                for field in line.fields { tokens += field }
            }
            return tokens
        }
    }

    /// `tokenize_include_file()`: the lines of an included file, inserted in place. Returns the error
    /// for the include line, if any.
    private mutating func includeFile(_ name: String, from outer: String, line: Int, depth: Int, missingOK: Bool,
                                      into output: inout [TokenizedAuthLine]) -> String? {
        let fullPath = AuthFilePath.resolve(name, relativeTo: outer)
        switch open(fullPath, depth: depth) {
        case .missing(let message):
            if missingOK {
                notes.append(AuthFileNote(file: outer, line: line, kind: .information,
                                          message: "skipping missing authentication file \"\(fullPath)\""))
                return nil
            }
            return message
        case .failed(let message):
            return message
        case .contents(let text):
            record(file: fullPath)
            stack.append(Self.identity(fullPath))
            output += tokenize(contents: text, path: fullPath, depth: depth)
            stack.removeLast()
            return nil
        }
    }

    /// The `include_dir` branch of `tokenize_auth_file()` with `GetConfFilesInDir()`.
    private mutating func includeDirectory(_ name: String, from outer: String, line: Int, depth: Int,
                                           into output: inout [TokenizedAuthLine]) -> String? {
        if name.unicodeScalars.allSatisfy({ " \t\r\n".unicodeScalars.contains($0) }) {
            return "empty configuration directory name"
        }
        let directory = AuthFilePath.resolve(name, relativeTo: outer)
        switch AuthFileReader.confFiles(inDirectory: directory) {
        case .failure(let message):
            return message
        case .success(let paths):
            var errors: [String] = []
            for path in paths {
                if let error = includeFile(path, from: outer, line: line, depth: depth, missingOK: false, into: &output) {
                    errors.append(error)
                }
            }
            return errors.isEmpty ? nil : errors.joined(separator: "\n")
        }
    }
}
