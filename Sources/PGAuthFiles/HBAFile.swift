/// A pg_hba.conf file as PostgreSQL 15–17 reads it (`load_hba()`, `tokenize_auth_file()`,
/// `parse_hba_line()` in src/backend/libpq/hba.c).
///
/// Lines with errors are reported and skipped, and parsing continues with the next line, as the server
/// does; the server itself would refuse the whole file while any `errors` (other than simulator
/// limitations) remain. `include`, `include_if_exists` and `include_dir` (PostgreSQL 16+) and `@file`
/// lists are followed relative to the including file's directory; nesting deeper than 10 levels and
/// include loops are errors. Files that are not regular files or are larger than 10 MB are refused.
public struct HBAFile: Sendable {
    /// The rules that parsed, in file order with included files' rules in place.
    public var rules: [HBARule]
    /// Errors, one per failing line (and simulator limitations, flagged).
    public var errors: [AuthFileError]
    /// Every file read: the file itself, included files, `@` files.
    public var files: [String]
    /// Version requirements and other remarks about individual lines.
    public var notes: [AuthFileNote]

    /// Creates a file model from parts (for example rules read from `pg_hba_file_rules`).
    public init(rules: [HBARule], errors: [AuthFileError] = [], files: [String] = [], notes: [AuthFileNote] = []) {
        self.rules = rules
        self.errors = errors
        self.files = files
        self.notes = notes
    }

    /// The errors the server itself reports (without simulator limitations). When this is not empty,
    /// PostgreSQL does not load the file.
    public var serverErrors: [AuthFileError] { errors.filter { !$0.isSimulatorLimitation } }

    /// The oldest PostgreSQL major version (15 or later) that accepts every line as written here.
    public var minimumServerVersion: Int {
        notes.compactMap(\.requiredServerVersion).max().map { max(15, $0) } ?? 15
    }

    /// Reads `path` and everything it includes.
    public static func load(path: String) -> HBAFile {
        var tokenizer = AuthFileTokenizer(kind: .hba)
        let (lines, error) = tokenizer.tokenizeFile(at: path)
        if let error {
            return HBAFile(rules: [], errors: [error], files: tokenizer.files, notes: tokenizer.notes)
        }
        return build(lines: lines, tokenizer: tokenizer, path: path)
    }

    /// Parses `contents` as the file at `path`; included and `@` files are read from disk relative to
    /// `path`'s directory.
    public static func parse(_ contents: String, path: String = "pg_hba.conf") -> HBAFile {
        var tokenizer = AuthFileTokenizer(kind: .hba)
        let lines = tokenizer.tokenizeTopLevel(contents: contents, path: path)
        return build(lines: lines, tokenizer: tokenizer, path: path)
    }

    private static func build(lines: [TokenizedAuthLine], tokenizer: AuthFileTokenizer, path: String) -> HBAFile {
        var file = HBAFile(rules: [], errors: [], files: tokenizer.files, notes: tokenizer.notes)
        for line in lines {
            if let message = line.errorMessage {
                file.errors.append(AuthFileError(file: line.file, line: line.lineNumber, message: message))
                continue
            }
            let parsed = HBALineParser.parse(line)
            file.errors += parsed.errors
            file.notes += parsed.notes
            if let rule = parsed.rule { file.rules.append(rule) }
        }
        if file.rules.isEmpty && file.serverErrors.isEmpty {
            file.errors.append(AuthFileError(file: path, line: 0,
                                             message: "configuration file \"\(path)\" contains no entries"))
        }
        return file
    }
}
