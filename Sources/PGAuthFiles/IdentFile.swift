/// A pg_ident.conf file as PostgreSQL 15–17 reads it (`load_ident()`, `tokenize_auth_file()`,
/// `parse_ident_line()` in src/backend/libpq/hba.c). Includes and `@` files are followed like
/// `HBAFile` does.
///
/// A server that finds errors in pg_ident.conf does not load it: at start-up it runs without any
/// maps, on reload it keeps the previous ones.
public struct IdentFile: Sendable {
    /// The mappings that parsed, in file order.
    public var mappings: [IdentMapping]
    /// Errors, one per failing line (and simulator limitations, flagged).
    public var errors: [AuthFileError]
    /// Every file read.
    public var files: [String]
    /// Version requirements and other remarks about individual lines.
    public var notes: [AuthFileNote]

    /// Creates a file model from parts (for example rows of `pg_ident_file_mappings`).
    public init(mappings: [IdentMapping], errors: [AuthFileError] = [], files: [String] = [], notes: [AuthFileNote] = []) {
        self.mappings = mappings
        self.errors = errors
        self.files = files
        self.notes = notes
    }

    /// The errors the server itself reports (without simulator limitations).
    public var serverErrors: [AuthFileError] { errors.filter { !$0.isSimulatorLimitation } }

    /// The oldest PostgreSQL major version (15 or later) that reads every line as simulated here.
    public var minimumServerVersion: Int {
        notes.compactMap(\.requiredServerVersion).max().map { max(15, $0) } ?? 15
    }

    /// Reads `path` and everything it includes.
    public static func load(path: String) -> IdentFile {
        var tokenizer = AuthFileTokenizer(kind: .ident)
        let (lines, error) = tokenizer.tokenizeFile(at: path)
        if let error {
            return IdentFile(mappings: [], errors: [error], files: tokenizer.files, notes: tokenizer.notes)
        }
        return build(lines: lines, tokenizer: tokenizer)
    }

    /// Parses `contents` as the file at `path`; included and `@` files are read from disk relative to
    /// `path`'s directory.
    public static func parse(_ contents: String, path: String = "pg_ident.conf") -> IdentFile {
        var tokenizer = AuthFileTokenizer(kind: .ident)
        let lines = tokenizer.tokenizeTopLevel(contents: contents, path: path)
        return build(lines: lines, tokenizer: tokenizer)
    }

    private static func build(lines: [TokenizedAuthLine], tokenizer: AuthFileTokenizer) -> IdentFile {
        var file = IdentFile(mappings: [], errors: [], files: tokenizer.files, notes: tokenizer.notes)
        for line in lines {
            if let message = line.errorMessage {
                file.errors.append(AuthFileError(file: line.file, line: line.lineNumber, message: message))
                continue
            }
            parseLine(line, into: &file)
        }
        return file
    }

    /// `parse_ident_line()`.
    private static func parseLine(_ line: TokenizedAuthLine, into file: inout IdentFile) {
        func error(_ message: String, limitation: Bool = false) {
            file.errors.append(AuthFileError(file: line.file, line: line.lineNumber, message: message,
                                             isSimulatorLimitation: limitation))
        }
        func note(_ kind: AuthFileNote.Kind, _ message: String) {
            file.notes.append(AuthFileNote(file: line.file, line: line.lineNumber, kind: kind, message: message))
        }
        var tokens: [HBAToken] = []
        for index in 0..<3 {
            guard index < line.fields.count else { return error("missing entry at end of line") }
            guard line.fields[index].count == 1 else { return error("multiple values in ident field") }
            tokens.append(line.fields[index][0])
        }
        let (map, system, database) = (tokens[0], tokens[1], tokens[2])
        if line.fields.count > 3 {
            note(.information, "fields after the third are ignored by the server")
        }

        var systemRegex: PostgresRegex?
        if let source = system.regularExpressionSource {
            switch PostgresRegex.compile(source) {
            case .invalid(let message): return error("invalid regular expression \"\(source)\": \(message)")
            case .unsupported(let reason):
                error("regular expression \"\(source)\" cannot be evaluated exactly: \(reason)", limitation: true)
            case .regex(let regex): systemRegex = regex
            }
        }
        if let source = database.regularExpressionSource {
            note(.requiresServerVersion(16), "a regular expression in the database-user column needs PostgreSQL 16 or later; PostgreSQL 15 compares \"\(database.value)\" as a literal user name")
            switch PostgresRegex.compile(source) {
            case .invalid(let message): return error("invalid regular expression \"\(source)\": \(message)")
            case .unsupported(let reason):
                error("regular expression \"\(source)\" cannot be evaluated exactly: \(reason)", limitation: true)
            case .regex: break
            }
        } else if database.isAll {
            note(.requiresServerVersion(16), "the keyword all in the database-user column needs PostgreSQL 16 or later; PostgreSQL 15 compares it as a user named \"all\"")
        } else if database.isMembershipCheck {
            note(.requiresServerVersion(16), "\"\(database.value)\" (role membership) in the database-user column needs PostgreSQL 16 or later; PostgreSQL 15 compares it as a literal user name")
        }
        if let systemRegex, database.value.contains("\\1"), !database.isMembershipCheck, !database.isRegularExpression {
            if systemRegex.captureGroupCount == 0 {
                note(.information, "\\1 is used but the regular expression has no subexpression: the server logs an error and the mapping never succeeds")
            } else if let divergence = systemRegex.captureDivergence {
                error("regular expression \"\(system.value.dropFirst())\" uses \(divergence); PostgreSQL's POSIX rules can put different text in \\1 than Swift Regex", limitation: true)
            }
        }
        file.mappings.append(IdentMapping(
            file: line.file, lineNumber: line.lineNumber, text: line.rawLine, mapName: map.value,
            systemUser: system.regularExpressionSource ?? system.value, systemUserIsRegex: system.isRegularExpression,
            databaseUser: database.value, databaseUserQuoted: database.quoted))
    }
}
