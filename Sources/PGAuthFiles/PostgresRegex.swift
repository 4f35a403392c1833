import RegexBuilder

/// A PostgreSQL regular expression (ARE, compiled with `REG_ADVANCED` and the C collation, as
/// `regcomp_auth_token()` in hba.c does) evaluated with Swift's `Regex`.
///
/// The pattern is translated rather than handed to `Regex` as is, because the two engines read the
/// same text differently on cases that matter for pg_ident.conf:
///
/// | PostgreSQL (ARE, C collation) | Swift `Regex` as-is | translation |
/// |---|---|---|
/// | `$`, `\Z`: only at the very end | `\Z` also before a final newline | `\z` |
/// | `.` any character, `\r\n` is two | `.` skips newlines; `\r\n` is one Character | `[\x{0}-\x{10FFFF}]`, matched on Unicode scalars |
/// | `\d \s \w`, `[[:alpha:]]` etc.: ASCII only | Unicode classes | explicit ASCII sets |
/// | `\b` backspace, `\B` backslash, `\v` vertical tab | word boundary, non-boundary, vertical space class | the characters |
/// | `\m \M \y \Y`, `[[:<:]] [[:>:]]` word constraints | unknown / Unicode word boundaries | a custom assertion on `[0-9A-Za-z_]` neighbours |
/// | `{` not followed by a digit is a literal | `{,2}` is a quantifier | `\x{7b}` |
/// | `(` inside a look-around does not capture | captures (shifts `\1`) | `(?:` |
/// | look-behind `(?<=…)`, `(?<!…)` | not supported | a custom assertion that matches the body on the text before |
/// | leftmost-*longest* overall match (POSIX) | leftmost-first (Perl) | longest end searched explicitly |
///
/// Patterns without word constraints or look-behinds become one `Regex` pattern string; the others are
/// assembled with RegexBuilder around the custom assertions. Matching is always on the whole subject,
/// so anchors and assertions see the text around the part being matched.
///
/// Both are unanchored and case-sensitive by default. Features the simulator cannot evaluate the way
/// PostgreSQL does are refused with `.unsupported` instead of being given a different meaning:
/// back references and octal escapes (`\1`…`\9`, `\0`), embedded options other than `c`, `s`, `t`
/// and `q` (for example `(?i)`: PostgreSQL folds ASCII only), multi-character collating elements, a
/// look-behind of unbounded length, and anything `Regex` cannot compile. Syntax PostgreSQL itself
/// rejects gives `.invalid` with `pg_regerror()`'s text.
struct PostgresRegex {
    /// The pattern as written (after the leading `/`).
    let source: String
    /// Capturing groups in the PostgreSQL sense (none inside look-arounds).
    let captureGroupCount: Int
    /// Set when the pattern uses alternation or non-greedy quantifiers: PostgreSQL's POSIX
    /// subexpression rules may then put different text in `\1` than Perl-style matching would.
    let captureDivergence: String?
    private let regex: Regex<AnyRegexOutput>

    /// The result of compiling a pattern.
    enum Compiled {
        case regex(PostgresRegex)
        /// PostgreSQL rejects the pattern; the text is `pg_regerror()`'s message.
        case invalid(String)
        /// PostgreSQL accepts it but the simulator cannot evaluate it faithfully.
        case unsupported(String)
    }

    /// Translates and compiles `source`.
    static func compile(_ source: String) -> Compiled {
        var translator = Translator(Array(source.unicodeScalars))
        let regex: Regex<AnyRegexOutput>
        do {
            regex = try translator.translate().regex()
        } catch let error as Translator.Failure {
            switch error {
            case .invalid(let message): return .invalid(message)
            case .unsupported(let reason): return .unsupported(reason)
            }
        } catch {
            return .unsupported("Swift Regex cannot evaluate this pattern: \(error)")
        }
        var divergence: [String] = []
        if translator.usesAlternation { divergence.append("alternation (|)") }
        if translator.usesNonGreedy { divergence.append("non-greedy quantifiers") }
        return .regex(PostgresRegex(
            source: source, captureGroupCount: translator.groupCount,
            captureDivergence: divergence.isEmpty ? nil : divergence.joined(separator: " and "),
            regex: regex))
    }

    /// Whether the pattern matches anywhere in `subject` (`pg_regexec()` with no anchoring).
    func matches(_ subject: String) -> Bool {
        (try? regex.firstMatch(in: subject)) != nil
    }

    /// The result of a match with its first subexpression.
    enum CaptureResult: Equatable {
        case noMatch
        /// The pattern matched; `group1` is nil when there is no first group or it did not participate.
        case match(whole: String, group1: String?)
    }

    /// Matches like `pg_regexec()` with `nmatch = 2`: the leftmost match start, then the longest match
    /// from there (the RE is greedy when it has no non-greedy quantifier), then the first group.
    func firstCapture(in subject: String) -> CaptureResult {
        guard let first = try? regex.firstMatch(in: subject) else { return .noMatch }
        var best = first
        if captureDivergence == nil {
            // Scalar boundaries only, longest first.
            let scalars = subject.unicodeScalars
            var end = scalars.endIndex
            while end > first.range.upperBound {
                if let longer = Self.match(regex, from: first.range.lowerBound, to: end, in: subject) {
                    best = longer
                    break
                }
                end = scalars.index(before: end)
            }
        }
        let whole = String(subject.unicodeScalars[best.range])
        guard captureGroupCount >= 1, best.output.count > 1, let group = best.output[1].substring else {
            return .match(whole: whole, group1: nil)
        }
        return .match(whole: whole, group1: String(group.unicodeScalars))
    }

    /// A match of `regex` that starts at `start` and ends at `end`, found in the whole of `subject` so
    /// that anchors and assertions still see the text on either side.
    fileprivate static func match(_ regex: Regex<AnyRegexOutput>, from start: String.Index, to end: String.Index,
                                  in subject: String) -> Regex<AnyRegexOutput>.Match? {
        let bounded = Regex<AnyRegexOutput>(Regex { Position(start); regex; Position(end) })
        return try? bounded.matchingSemantics(.unicodeScalar).firstMatch(in: subject)
    }
}

// MARK: - Assertions

/// Matches the empty string at one position of the subject only.
private struct Position: CustomConsumingRegexComponent {
    typealias RegexOutput = Substring
    let index: String.Index

    init(_ index: String.Index) {
        self.index = index
    }

    func consuming(_ input: String, startingAt index: String.Index,
                   in bounds: Range<String.Index>) -> (upperBound: String.Index, output: Substring)? {
        index == self.index ? (index, input[index..<index]) : nil
    }
}

/// `\m \M \y \Y` (and `[[:<:]] [[:>:]]`): word characters are `[0-9A-Za-z_]` in the C collation.
private struct WordConstraint: CustomConsumingRegexComponent {
    typealias RegexOutput = Substring

    enum Kind {
        case start, end, boundary, notBoundary
    }

    let kind: Kind

    func consuming(_ input: String, startingAt index: String.Index,
                   in bounds: Range<String.Index>) -> (upperBound: String.Index, output: Substring)? {
        let scalars = input.unicodeScalars
        let before = index > scalars.startIndex && Self.isWord(scalars[scalars.index(before: index)])
        let after = index < scalars.endIndex && Self.isWord(scalars[index])
        let holds = switch kind {
        case .start: !before && after
        case .end: before && !after
        case .boundary: before != after
        case .notBoundary: before == after
        }
        return holds ? (index, input[index..<index]) : nil
    }

    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "0"..."9", "A"..."Z", "a"..."z", "_": true
        default: false
        }
    }
}

/// `(?<=body)` or `(?<!body)`: whether `body` matches some stretch of `lengths` scalars that ends here.
private struct Lookbehind: CustomConsumingRegexComponent {
    typealias RegexOutput = Substring
    let body: Regex<AnyRegexOutput>
    let lengths: ClosedRange<Int>
    let negated: Bool

    func consuming(_ input: String, startingAt index: String.Index,
                   in bounds: Range<String.Index>) -> (upperBound: String.Index, output: Substring)? {
        let scalars = input.unicodeScalars
        var start = index
        var length = 0
        var found = false
        while !found {
            if length >= lengths.lowerBound {
                found = PostgresRegex.match(body, from: start, to: index, in: input) != nil
            }
            guard length < lengths.upperBound, start > scalars.startIndex else { break }
            start = scalars.index(before: start)
            length += 1
        }
        return found != negated ? (index, input[index..<index]) : nil
    }
}

// MARK: - Parsed pattern

/// A translated pattern: Swift Regex syntax where it can be a pattern string, custom assertions where not.
private indirect enum Node: Sendable {
    /// One character or character class, in Swift Regex syntax.
    case character(String)
    /// A zero-width anchor in Swift Regex syntax (`\A`, `\z`).
    case anchor(String)
    case word(WordConstraint.Kind)
    case sequence([Node])
    case alternation([Node])
    case group(Node, capturing: Bool)
    case repetition(Node, min: Int, max: Int?, reluctant: Bool)
    case lookahead(Node, negated: Bool)
    case lookbehind(Node, negated: Bool)

    /// The node as a Swift Regex pattern string, or nil when it contains a custom assertion.
    var pattern: String? {
        switch self {
        case .character(let text), .anchor(let text):
            return text
        case .word, .lookbehind:
            return nil
        case .sequence(let nodes):
            return Self.patterns(nodes)?.joined()
        case .alternation(let nodes):
            return Self.patterns(nodes).map { "(?:" + $0.joined(separator: "|") + ")" }
        case .group(let body, let capturing):
            return body.pattern.map { (capturing ? "(" : "(?:") + $0 + ")" }
        case .repetition(let atom, let min, let max, let reluctant):
            let count = switch (min, max) {
            case (0, nil): "*"
            case (1, nil): "+"
            case (0, 1): "?"
            case (_, nil): "{\(min),}"
            case (_, let max?) where max == min: "{\(min)}"
            case (_, let max?): "{\(min),\(max)}"
            }
            return atom.pattern.map { $0 + count + (reluctant ? "?" : "") }
        case .lookahead(let body, let negated):
            return body.pattern.map { (negated ? "(?!" : "(?=") + $0 + ")" }
        }
    }

    private static func patterns(_ nodes: [Node]) -> [String]? {
        var patterns: [String] = []
        for node in nodes {
            guard let pattern = node.pattern else { return nil }
            patterns.append(pattern)
        }
        return patterns
    }

    /// The compiled node, matching on Unicode scalars.
    func regex() throws -> Regex<AnyRegexOutput> {
        try uncompiled().matchingSemantics(.unicodeScalar)
    }

    private func uncompiled() throws -> Regex<AnyRegexOutput> {
        if let pattern { return try Regex(pattern) }
        switch self {
        case .character, .anchor:
            preconditionFailure("a leaf always has a pattern")
        case .word(let kind):
            return Regex(Regex { WordConstraint(kind: kind) })
        case .sequence(let nodes):
            var result = try Regex("")
            for node in nodes {
                let next = try node.uncompiled()
                result = Regex(Regex { result; next })
            }
            return result
        case .alternation(let nodes):
            var result = try nodes[0].uncompiled()
            for node in nodes.dropFirst() {
                let next = try node.uncompiled()
                result = Regex(Regex { ChoiceOf { result; next } })
            }
            return result
        case .group(let body, let capturing):
            let inner = try body.uncompiled()
            return capturing ? Regex(Regex { Capture { inner } }) : inner
        case .repetition(let atom, let min, let max, let reluctant):
            let inner = try atom.uncompiled()
            let behavior: RegexRepetitionBehavior = reluctant ? .reluctant : .eager
            if let max { return Regex(Regex { Repeat(inner, min...max, behavior) }) }
            return Regex(Regex { Repeat(inner, min..., behavior) })
        case .lookahead(let body, let negated):
            let inner = try body.uncompiled()
            return negated ? Regex(Regex { NegativeLookahead { inner } }) : Regex(Regex { Lookahead { inner } })
        case .lookbehind(let body, let negated):
            guard let maximum = body.lengths.max else {
                throw Translator.Failure.unsupported("a look-behind of unbounded length is not evaluated by the simulator")
            }
            let assertion = Lookbehind(body: try body.regex(), lengths: body.lengths.min...maximum, negated: negated)
            return Regex(Regex { assertion })
        }
    }

    /// The fewest and the most scalars the node can match (`max` nil: no limit).
    var lengths: (min: Int, max: Int?) {
        switch self {
        case .character:
            return (1, 1)
        case .anchor, .word, .lookahead, .lookbehind:
            return (0, 0)
        case .group(let body, _):
            return body.lengths
        case .sequence(let nodes):
            var total: (min: Int, max: Int?) = (0, 0)
            for node in nodes {
                let next = node.lengths
                total.min = Self.saturating(total.min.addingReportingOverflow(next.min))
                total.max = total.max.flatMap { sum in next.max.map { Self.saturating(sum.addingReportingOverflow($0)) } }
            }
            return total
        case .alternation(let nodes):
            let branches = nodes.map(\.lengths)
            let maxima = branches.compactMap(\.max)
            return (branches.map(\.min).min() ?? 0, maxima.count == branches.count ? maxima.max() : nil)
        case .repetition(let atom, let min, let max, _):
            let inner = atom.lengths
            let most: Int? = if inner.max == 0 || max == 0 {
                0
            } else if let max, let innerMax = inner.max {
                Self.saturating(innerMax.multipliedReportingOverflow(by: max))
            } else {
                nil
            }
            return (Self.saturating(inner.min.multipliedReportingOverflow(by: min)), most)
        }
    }

    private static func saturating(_ result: (partialValue: Int, overflow: Bool)) -> Int {
        result.overflow ? .max : result.partialValue
    }
}

// MARK: - Translation

/// Reads an ARE and builds the equivalent `Node` tree (see `PostgresRegex`).
private struct Translator {
    enum Failure: Error {
        case invalid(String)
        case unsupported(String)
    }

    /// What the last emitted item was, for quantifier checks (`parseqatom()` in regcomp.c).
    private enum Last {
        case start      // start of a branch: a quantifier here is an error
        case atom       // something quantifiable
        case quantified // a quantifier was just applied
        case constraint // ^ $ \A \Z \m \M \y \Y look-arounds: not quantifiable
    }

    /// The whole pattern or an open parenthesis, with the branches read inside it so far.
    private struct Group {
        enum Kind {
            case capturing, nonCapturing, lookahead(negated: Bool), lookbehind(negated: Bool)
        }

        let kind: Kind
        var branches: [[Node]] = [[]]

        var body: Node { branches.count == 1 ? .sequence(branches[0]) : .alternation(branches.map(Node.sequence)) }

        var isLookaround: Bool {
            switch kind {
            case .lookahead, .lookbehind: true
            case .capturing, .nonCapturing: false
            }
        }
    }

    private let chars: [Unicode.Scalar]
    private var index = 0
    private(set) var groupCount = 0
    private(set) var usesAlternation = false
    private(set) var usesNonGreedy = false
    private var last = Last.start
    /// `groups[0]` is the whole pattern; the others are the open parentheses, innermost last.
    private var groups = [Group(kind: .nonCapturing)]

    // pg_regerror() texts (src/include/regex/regerrs.h).
    static let badPattern = "invalid regexp (reg version 0.8)"
    static let badRepeat = "quantifier operand invalid"
    static let badEscape = "invalid escape \\ sequence"
    static let unbalancedParens = "parentheses () not balanced"
    static let unbalancedBrackets = "brackets [] not balanced"
    static let unbalancedBraces = "braces {} not balanced"
    static let badCount = "invalid repetition count(s)"
    static let badRange = "invalid character range"
    static let badClass = "invalid character class"
    static let badOption = "invalid embedded option"

    static let stringStart = Node.anchor("\\A")
    static let stringEnd = Node.anchor("\\z")

    init(_ chars: [Unicode.Scalar]) {
        self.chars = chars
    }

    private var atEnd: Bool { index >= chars.count }
    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < chars.count ? chars[index + offset] : nil
    }

    mutating func translate() throws -> Node {
        if try prefixes() { return groups[0].body }
        while !atEnd {
            let c = chars[index]
            index += 1
            switch c {
            case "|":
                usesAlternation = true
                groups[groups.count - 1].branches.append([])
                last = .start
            case "*":
                try quantifier(min: 0, max: nil)
            case "+":
                try quantifier(min: 1, max: nil)
            case "?":
                try quantifier(min: 0, max: 1)
            case "{":
                if let next = peek(), next.properties.numericType != nil, next.isASCII {
                    try bound()
                } else {
                    emitLiteral(c)
                }
            case "(":
                try openParen()
            case ")":
                guard groups.count > 1 else { throw Failure.invalid(Self.unbalancedParens) }
                let group = groups.removeLast()
                switch group.kind {
                case .capturing: append(.group(group.body, capturing: true), .atom)
                case .nonCapturing: append(.group(group.body, capturing: false), .atom)
                case .lookahead(let negated): append(.lookahead(group.body, negated: negated), .constraint)
                case .lookbehind(let negated): append(.lookbehind(group.body, negated: negated), .constraint)
                }
            case "[":
                try bracket()
            case ".":
                append(.character("[\\x{0}-\\x{10FFFF}]"), .atom)
            case "^":
                append(Self.stringStart, .constraint)
            case "$":
                append(Self.stringEnd, .constraint)
            case "\\":
                try escape()
            default:
                emitLiteral(c)
            }
        }
        if groups.count > 1 { throw Failure.invalid(Self.unbalancedParens) }
        return groups[0].body
    }

    /// Adds `node` to the current branch.
    private mutating func append(_ node: Node, _ kind: Last) {
        groups[groups.count - 1].branches[groups[groups.count - 1].branches.count - 1].append(node)
        last = kind
    }

    /// `prefixes()` in regc_lex.c: `***=`, `***:`, `***?`, and leading embedded options.
    private mutating func prefixes() throws -> Bool {
        if chars.count >= 4, chars[0] == "*", chars[1] == "*", chars[2] == "*" {
            switch chars[3] {
            case "?": throw Failure.invalid(Self.badPattern)
            case "=":
                for c in chars[4...] { emitLiteral(c) }
                return true
            case ":": index = 4
            default: throw Failure.invalid(Self.badRepeat)
            }
        }
        if let open = peek(), open == "(", peek(1) == "?", let letter = peek(2), letter.isASCII,
           letter.properties.isAlphabetic {
            index += 2
            var unsupported: [Unicode.Scalar] = []
            var quote = false
            while let option = peek(), option.isASCII, option.properties.isAlphabetic {
                switch option {
                case "c", "s", "t": break
                case "q": quote = true
                case "b", "e", "i", "m", "n", "p", "w", "x": unsupported.append(option)
                default: throw Failure.invalid(Self.badOption)
                }
                index += 1
            }
            guard peek() == ")" else { throw Failure.invalid(Self.badOption) }
            index += 1
            if !unsupported.isEmpty, !quote {
                let letters = String(String.UnicodeScalarView(unsupported))
                throw Failure.unsupported("embedded option (?\(letters)) changes matching in ways Swift Regex does not reproduce (for example (?i) folds ASCII only in PostgreSQL)")
            }
            if quote {
                while !atEnd {
                    emitLiteral(chars[index])
                    index += 1
                }
                return true
            }
        }
        return false
    }

    /// Applies `*`, `+`, `?` or a bound to the atom just read; a following `?` makes it non-greedy.
    private mutating func quantifier(min: Int, max: Int?) throws {
        guard last == .atom else { throw Failure.invalid(Self.badRepeat) }
        var reluctant = false
        if peek() == "?" {
            index += 1
            reluctant = true
            usesNonGreedy = true
        }
        let atom = groups[groups.count - 1].branches[groups[groups.count - 1].branches.count - 1].removeLast()
        append(.repetition(atom, min: min, max: max, reluctant: reluctant), .quantified)
    }

    /// `{m}`, `{m,}`, `{m,n}` with 0 ≤ m ≤ n ≤ 255 (`DUPMAX`).
    private mutating func bound() throws {
        guard last == .atom else { throw Failure.invalid(Self.badRepeat) }
        func number() -> Int? {
            var value: Int?
            while let c = peek(), c.isASCII, let digit = Int(String(c)) {
                value = min((value ?? 0) * 10 + digit, 100_000)
                index += 1
            }
            return value
        }
        guard let minimum = number() else { throw Failure.invalid(Self.badCount) }
        var maximum: Int? = minimum
        var open = false
        if peek() == "," {
            index += 1
            maximum = number()
            open = maximum == nil
        }
        guard let close = peek() else { throw Failure.invalid(Self.unbalancedBraces) }
        guard close == "}" else { throw Failure.invalid(Self.badCount) }
        index += 1
        if minimum > 255 || (maximum ?? 0) > 255 || (maximum.map { $0 < minimum } ?? false) {
            throw Failure.invalid(Self.badCount)
        }
        try quantifier(min: minimum, max: open ? nil : maximum)
    }

    private mutating func openParen() throws {
        if peek() == "?" {
            index += 1
            guard let kind = peek() else { throw Failure.invalid(Self.badRepeat) }
            index += 1
            switch kind {
            case ":":
                open(.nonCapturing)
            case "#":
                while let c = peek(), c != ")" { index += 1 }
                if !atEnd { index += 1 }
            case "=", "!":
                open(.lookahead(negated: kind == "!"))
            case "<":
                guard let direction = peek(), direction == "=" || direction == "!" else {
                    throw Failure.invalid(Self.badRepeat)
                }
                index += 1
                open(.lookbehind(negated: direction == "!"))
            default:
                throw Failure.invalid(Self.badRepeat)
            }
            return
        }
        if groups.contains(where: \.isLookaround) {
            // "all parentheses within them are considered non-capturing" (PostgreSQL docs, 9.7.3.3).
            open(.nonCapturing)
        } else {
            groupCount += 1
            open(.capturing)
        }
    }

    private mutating func open(_ kind: Group.Kind) {
        groups.append(Group(kind: kind))
        last = .start
    }

    // MARK: escapes

    private enum Escape {
        case character(UInt32)
        case classRanges([ClosedRange<UInt32>], negated: Bool)
        case constraint(Node)
    }

    private mutating func escape() throws {
        switch try readEscape(inBracket: false) {
        case .character(let value):
            append(.character(Self.hex(value)), .atom)
        case .classRanges(let ranges, let negated):
            append(.character(Self.set(ranges, negated: negated)), .atom)
        case .constraint(let node):
            append(node, .constraint)
        }
    }

    /// `lexescape()` in regc_lex.c, for the escapes the simulator reproduces.
    private mutating func readEscape(inBracket: Bool) throws -> Escape {
        guard let c = peek() else { throw Failure.invalid(Self.badEscape) }
        index += 1
        switch c {
        case "a": return .character(0x07)
        case "b": return .character(0x08)
        case "B": return .character(0x5C)
        case "e": return .character(0x1B)
        case "f": return .character(0x0C)
        case "n": return .character(0x0A)
        case "r": return .character(0x0D)
        case "t": return .character(0x09)
        case "v": return .character(0x0B)
        case "c":
            guard let control = peek() else { throw Failure.invalid(Self.badEscape) }
            index += 1
            return .character(control.value & 0x1F)
        case "u": return .character(try hexDigits(exactly: 4))
        case "U": return .character(try hexDigits(exactly: 8))
        case "x": return .character(try hexDigits(atLeast: 1, atMost: 8))
        case "d": return .classRanges(Self.classes["digit"]!, negated: false)
        case "s": return .classRanges(Self.classes["space"]!, negated: false)
        case "w": return .classRanges(Self.classes["word"]!, negated: false)
        case "D", "S", "W":
            if inBracket { throw Failure.invalid(Self.badEscape) }
            let name = c == "D" ? "digit" : c == "S" ? "space" : "word"
            return .classRanges(Self.classes[name]!, negated: true)
        case "A", "Z", "m", "M", "y", "Y":
            if inBracket { throw Failure.invalid(Self.badEscape) }
            switch c {
            case "A": return .constraint(Self.stringStart)
            case "Z": return .constraint(Self.stringEnd)
            case "m": return .constraint(.word(.start))
            case "M": return .constraint(.word(.end))
            case "y": return .constraint(.word(.boundary))
            default: return .constraint(.word(.notBoundary))
            }
        default:
            if c.isASCII, c.properties.numericType != nil {
                throw Failure.unsupported("back references and octal escapes (\\\(c)) are not evaluated by the simulator")
            }
            if c.isASCII, c.properties.isAlphabetic { throw Failure.invalid(Self.badEscape) }
            return .character(c.value)
        }
    }

    private mutating func hexDigits(exactly count: Int) throws -> UInt32 {
        try hexDigits(atLeast: count, atMost: count)
    }

    private mutating func hexDigits(atLeast minimum: Int, atMost maximum: Int) throws -> UInt32 {
        var value: UInt32 = 0
        var count = 0
        while count < maximum, let c = peek(), c.isASCII, let digit = Character(c).hexDigitValue {
            value = value &* 16 &+ UInt32(digit)
            count += 1
            index += 1
        }
        guard count >= minimum, value <= 0x10FFFF else { throw Failure.invalid(Self.badEscape) }
        guard !(0xD800...0xDFFF).contains(value) else {
            throw Failure.unsupported("a surrogate code point escape cannot occur in a certificate name")
        }
        return value
    }

    // MARK: brackets

    /// One `[...]` expression (`parsebracket()`/`brackpart()` in regcomp.c with the C collation).
    private mutating func bracket() throws {
        // [[:<:]] and [[:>:]] are word-start / word-end constraints.
        if chars.count - index >= 6, chars[index] == "[", chars[index + 1] == ":",
           chars[index + 2] == "<" || chars[index + 2] == ">", chars[index + 3] == ":",
           chars[index + 4] == "]", chars[index + 5] == "]" {
            let start = chars[index + 2] == "<"
            index += 6
            append(.word(start ? .start : .end), .constraint)
            return
        }
        var negated = false
        if peek() == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let c = peek() else { throw Failure.invalid(Self.unbalancedBrackets) }
            if c == "]" && !first {
                index += 1
                break
            }
            if c == "-" && !first && peek(1) != "]" {
                throw Failure.invalid(Self.badRange)
            }
            let element = try bracketElement()
            first = false
            switch element {
            case .ranges(let classRanges):
                ranges += classRanges
            case .character(let low):
                if peek() == "-", let after = peek(1), after != "]" {
                    index += 1
                    guard case .character(let high) = try bracketElement() else {
                        throw Failure.invalid(Self.badRange)
                    }
                    guard low <= high else { throw Failure.invalid(Self.badRange) }
                    ranges.append(low...high)
                } else {
                    ranges.append(low...low)
                }
            }
        }
        append(.character(Self.set(ranges, negated: negated)), .atom)
    }

    private enum BracketElement {
        case character(UInt32)
        case ranges([ClosedRange<UInt32>])
    }

    private mutating func bracketElement() throws -> BracketElement {
        guard let c = peek() else { throw Failure.invalid(Self.unbalancedBrackets) }
        index += 1
        if c == "[", let kind = peek(), kind == "." || kind == "=" || kind == ":" {
            index += 1
            var name: [Unicode.Scalar] = []
            while true {
                guard let next = peek() else { throw Failure.invalid(Self.unbalancedBrackets) }
                if next == kind, peek(1) == "]" {
                    index += 2
                    break
                }
                name.append(next)
                index += 1
            }
            let text = String(String.UnicodeScalarView(name))
            if kind == ":" {
                guard let ranges = Self.classes[text] else { throw Failure.invalid(Self.badClass) }
                return .ranges(ranges)
            }
            guard name.count == 1 else {
                throw Failure.unsupported("the collating element or equivalence class [\(kind)\(text)\(kind)] is not evaluated by the simulator")
            }
            return .character(name[0].value)
        }
        if c == "\\" {
            switch try readEscape(inBracket: true) {
            case .character(let value): return .character(value)
            case .classRanges(let ranges, negated: false): return .ranges(ranges)
            default: throw Failure.invalid(Self.badEscape)
            }
        }
        return .character(c.value)
    }

    // MARK: output helpers

    /// POSIX classes as the C locale defines them (`pg_char_properties`, ASCII only).
    static let classes: [String: [ClosedRange<UInt32>]] = [
        "alnum": [0x30...0x39, 0x41...0x5A, 0x61...0x7A],
        "alpha": [0x41...0x5A, 0x61...0x7A],
        "ascii": [0x00...0x7F],
        "blank": [0x09...0x09, 0x20...0x20],
        "cntrl": [0x00...0x1F, 0x7F...0x7F],
        "digit": [0x30...0x39],
        "graph": [0x21...0x7E],
        "lower": [0x61...0x7A],
        "print": [0x20...0x7E],
        "punct": [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E],
        "space": [0x09...0x0D, 0x20...0x20],
        "upper": [0x41...0x5A],
        "xdigit": [0x30...0x39, 0x41...0x46, 0x61...0x66],
        "word": [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A],
    ]

    static func hex(_ value: UInt32) -> String { "\\x{" + String(value, radix: 16) + "}" }

    static func set(_ ranges: [ClosedRange<UInt32>], negated: Bool) -> String {
        var text = negated ? "[^" : "["
        for range in ranges {
            text += range.lowerBound == range.upperBound ? hex(range.lowerBound)
                : hex(range.lowerBound) + "-" + hex(range.upperBound)
        }
        return text + "]"
    }

    private mutating func emitLiteral(_ c: Unicode.Scalar) {
        let isAlphanumeric = c.isASCII && (c.properties.isAlphabetic || c.properties.numericType != nil)
        append(.character(isAlphanumeric ? String(c) : Self.hex(c.value)), .atom)
    }
}
