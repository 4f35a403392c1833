/// One pg_ident.conf line (`IdentLine` in src/include/libpq/hba.h): `MAPNAME SYSTEM-USERNAME
/// DATABASE-USERNAME`.
public struct IdentMapping: Sendable, Hashable {
    /// The file the line is in.
    public var file: String
    /// The line number of the line's first physical line.
    public var lineNumber: Int
    /// The line as written, continuations joined.
    public var text: String
    /// The map name, compared case-sensitively with the rule's `map=`.
    public var mapName: String
    /// The system user: a literal (compared case-sensitively for `cert`) or, with a leading `/`, a
    /// regular expression (stored here without the `/`).
    public var systemUser: String
    /// Whether `systemUser` is a regular expression (the token started with `/`, quoted or not).
    public var systemUserIsRegex: Bool
    /// The database user: a literal, `\1` substituted from the first subexpression of the system-user
    /// regex, or (PostgreSQL 16+) the keyword `all`, `+role`, or a `/regex`.
    public var databaseUser: String
    /// Whether the database-user token was quoted (a quoted `all` or `+role` is a plain name; quoting
    /// does not stop `\1` substitution or a leading `/` from being a regex).
    public var databaseUserQuoted: Bool

    /// Creates a mapping.
    public init(file: String, lineNumber: Int, text: String, mapName: String, systemUser: String,
                systemUserIsRegex: Bool, databaseUser: String, databaseUserQuoted: Bool = false) {
        self.file = file
        self.lineNumber = lineNumber
        self.text = text
        self.mapName = mapName
        self.systemUser = systemUser
        self.systemUserIsRegex = systemUserIsRegex
        self.databaseUser = databaseUser
        self.databaseUserQuoted = databaseUserQuoted
    }

    /// Creates a mapping from one row of `pg_ident_file_mappings` (`sys_name` keeps its leading `/`
    /// when it is a regex; quoting is not shown by the view, so `pg_username` is taken unquoted).
    public init(fileMappingsViewRow lineNumber: Int, fileName: String, mapName: String, systemName: String,
                databaseUserName: String) {
        self.init(file: fileName, lineNumber: lineNumber, text: "\(mapName) \(systemName) \(databaseUserName)",
                  mapName: mapName,
                  systemUser: systemName.hasPrefix("/") ? String(systemName.dropFirst()) : systemName,
                  systemUserIsRegex: systemName.hasPrefix("/"), databaseUser: databaseUserName)
    }

    /// The database-user column as a token.
    var databaseUserToken: HBAToken { HBAToken(value: databaseUser, quoted: databaseUserQuoted) }

    /// The system-user column as written (with `/` for a regex).
    var systemUserColumn: String { systemUserIsRegex ? "/" + systemUser : systemUser }
}
