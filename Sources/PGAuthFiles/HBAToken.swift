import PGSupport

/// One token of a pg_hba.conf or pg_ident.conf field (`AuthToken` in src/include/libpq/hba.h).
///
/// `quoted` is PostgreSQL's `initial_quote`: true only when the token *starts* with a double quote
/// (`next_token()` in hba.c). A quoted token loses its special meaning, so `"all"` is a database or
/// role literally named `all` and `"+admins"` is a role named `+admins`; `a"ll"` is unquoted and is the
/// keyword `all`. A leading `/` makes a regular expression whether quoted or not (PostgreSQL 16+,
/// `regcomp_auth_token()`).
public struct HBAToken: Sendable, Hashable, CustomStringConvertible {
    /// The token with quotes removed (`""` inside quotes is one `"`).
    public var value: String
    /// Whether the token started with a double quote.
    public var quoted: Bool

    /// Creates a token.
    public init(value: String, quoted: Bool = false) {
        self.value = value
        self.quoted = quoted
    }

    /// True when the token is the unquoted keyword (`token_is_keyword()`: case-sensitive, unquoted only).
    public func isKeyword(_ keyword: String) -> Bool { !quoted && value == keyword }

    /// True for the unquoted `all` keyword.
    public var isAll: Bool { isKeyword("all") }

    /// True for an unquoted `+role` token: matches members of the role (`token_is_member_check()`).
    public var isMembershipCheck: Bool { !quoted && value.hasPrefix("+") }

    /// The role named by a `+role` token, or nil.
    public var membershipRole: String? { isMembershipCheck ? String(value.dropFirst()) : nil }

    /// True when the token is a regular expression (leading `/`, quoted or not; PostgreSQL 16+ in
    /// pg_hba.conf database/user columns and the pg_ident.conf user column, all versions for the
    /// pg_ident.conf system-user column).
    public var isRegularExpression: Bool { value.hasPrefix("/") }

    /// The regular expression after the leading `/`, or nil.
    public var regularExpressionSource: String? { isRegularExpression ? String(value.dropFirst()) : nil }

    /// The token as it could be written in the file (quoted again when it was quoted).
    public var description: String {
        quoted ? "\"" + value.replacingScalars("\"", with: "\"\"") + "\"" : value
    }
}

extension Array where Element == HBAToken {
    /// The tokens written as a comma-separated field.
    var fieldText: String { map(\.description).joined(separator: ",") }
}
