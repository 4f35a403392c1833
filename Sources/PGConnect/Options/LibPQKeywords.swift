import CLibPQ

/// What the linked libpq says about its connection keywords (`PQconndefaults`), read once.
///
/// We never keep our own list of keywords: the linked libpq is the authority on which
/// keywords exist, which are secrets (display character `*`), their environment variables and
/// compiled defaults.
struct LibPQKeywords: Sendable {
    struct Keyword: Sendable {
        var name: String
        var environmentVariable: String?
        var compiledDefault: String?
        var label: String
        /// libpq's display character: "" shown, "*" secret (never shown), "D" debug.
        var displayCharacter: String
        var isSecret: Bool { displayCharacter == "*" }
    }

    /// In libpq's own order (`PQconninfoOptions[]`), the order conninfo strings are rendered in.
    let keywords: [Keyword]
    let index: [String: Int]

    static let linked = LibPQKeywords()

    private init() {
        var keywords: [Keyword] = []
        if let options = PQconndefaults() {
            defer { PQconninfoFree(options) }
            var cursor = options
            while let keyword = cursor.pointee.keyword {
                keywords.append(Keyword(
                    name: String(cString: keyword),
                    environmentVariable: cursor.pointee.envvar.map { String(cString: $0) },
                    compiledDefault: cursor.pointee.compiled.map { String(cString: $0) },
                    label: cursor.pointee.label.map { String(cString: $0) } ?? "",
                    displayCharacter: cursor.pointee.dispchar.map { String(cString: $0) } ?? ""
                ))
                cursor += 1
            }
        }
        self.keywords = keywords
        self.index = Dictionary(keywords.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func contains(_ name: String) -> Bool { index[name] != nil }

    func keyword(_ name: String) -> Keyword? { index[name].map { keywords[$0] } }

    /// The position of `name` in libpq's order; unknown keywords sort last.
    func order(of name: String) -> Int { index[name] ?? Int.max }

    /// The known keyword closest to `name`, for "did you mean" hints.
    func closest(to name: String) -> String? {
        let candidates = keywords.map(\.name).map { ($0, editDistance($0, name)) }
        guard let best = candidates.min(by: { $0.1 < $1.1 }), best.1 <= max(2, name.count / 3) else { return nil }
        return best.0
    }
}

/// Levenshtein distance over Unicode scalars.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

extension ConnectionOptions {
    /// The keyword of the linked libpq closest to `keyword` (for "did you mean" hints).
    public static func closestKeyword(to keyword: String) -> String? { LibPQKeywords.linked.closest(to: keyword) }

    /// Whether the linked libpq knows `keyword`.
    public static func isKnownKeyword(_ keyword: String) -> Bool { LibPQKeywords.linked.contains(keyword) }
}
