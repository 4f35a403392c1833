/// A problem PostgreSQL reports for one line of pg_hba.conf or pg_ident.conf, or one the simulator
/// cannot evaluate exactly.
///
/// The server logs these as `LOG: <message>` with `CONTEXT: line <line> of configuration file "<file>"`
/// and shows them in the `error` column of `pg_hba_file_rules` / `pg_ident_file_mappings`. A file with
/// any server error is not loaded at all: at start-up the server refuses to start (pg_hba.conf) or runs
/// without maps (pg_ident.conf); on reload it keeps the previous rules (`load_hba()`, `load_ident()`).
public struct AuthFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file the line is in (the included file for lines of included files).
    public var file: String
    /// The line number of the first physical line of the (possibly continued) line; 0 when the file
    /// itself could not be read.
    public var line: Int
    /// The message, worded as the server words it.
    public var message: String
    /// True when PostgreSQL accepts the line but this simulator cannot evaluate it exactly (for example a
    /// regular expression feature Swift's Regex interprets differently); the line is kept and a
    /// simulation that reaches it reports `undecidable`.
    public var isSimulatorLimitation: Bool

    /// Creates an error for one line of an authentication file.
    public init(file: String, line: Int, message: String, isSimulatorLimitation: Bool = false) {
        self.file = file
        self.line = line
        self.message = message
        self.isSimulatorLimitation = isSimulatorLimitation
    }

    /// `file:line: message`, as a person reads it.
    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return isSimulatorLimitation ? "\(place): \(message) (simulator limitation)" : "\(place): \(message)"
    }
}

/// Something about a line that is not an error but matters when reading the file against a server:
/// syntax that needs a newer PostgreSQL, or what the server does silently.
public struct AuthFileNote: Sendable, Hashable, CustomStringConvertible {
    /// What kind of note this is.
    public enum Kind: Sendable, Hashable {
        /// The line uses syntax that PostgreSQL accepts only from this major version on; older servers
        /// reject the line (or read it differently, as the message says).
        case requiresServerVersion(Int)
        /// Something the server does without an error (for example skipping a missing
        /// `include_if_exists` file).
        case information
    }

    /// The file the line is in.
    public var file: String
    /// The line number (first physical line).
    public var line: Int
    /// What kind of note this is.
    public var kind: Kind
    /// A sentence describing it.
    public var message: String

    /// Creates a note.
    public init(file: String, line: Int, kind: Kind, message: String) {
        self.file = file
        self.line = line
        self.kind = kind
        self.message = message
    }

    /// The version this note requires, if it is a version note.
    public var requiredServerVersion: Int? {
        if case .requiresServerVersion(let version) = kind { return version }
        return nil
    }

    /// `file:line: message`.
    public var description: String { "\(file):\(line): \(message)" }
}
