import Foundation

/// A PostgreSQL regular expression (ARE, compiled with `REG_ADVANCED` and the C collation, as
/// `regcomp_auth_token()` in hba.c does) evaluated with NSRegularExpression (ICU).
///
/// The pattern is translated rather than handed to ICU as is, because the two engines read the same
/// text differently on cases that matter for pg_ident.conf:
///
/// | PostgreSQL (ARE, C collation) | ICU as-is | translation |
/// |---|---|---|
/// | `$`, `\Z`: only at the very end | also before a final newline | `(?![\s\S])` |
/// | `.` any character, `\r\n` is two | DOTALL `.` eats `\r\n` as one | `[\x{0}-\x{10FFFF}]` |
/// | `\d \s \w`, `[[:alpha:]]` etc.: ASCII only | Unicode classes | explicit ASCII sets |
/// | `\b` backspace, `\B` backslash, `\v` vertical tab | word boundary, non-boundary, vertical space class | the characters |
/// | `\m \M \y \Y`, `[[:<:]] [[:>:]]` word constraints | unknown / different | look-arounds on `[0-9A-Za-z_]` |
/// | `{` not followed by a digit is a literal | syntax error | `\{` |
/// | `(` inside a look-around does not capture | captures (shifts `\1`) | `(?:` |
/// | leftmost-*longest* overall match (POSIX) | leftmost-first (Perl) | longest end searched explicitly |
///
/// Both are unanchored and case-sensitive by default. Features the simulator cannot evaluate the way
/// PostgreSQL does are refused with `.unsupported` instead of being given a different meaning:
/// back references and octal escapes (`\1`…`\9`, `\0`), embedded options other than `c`, `s`, `t`
/// and `q` (for example `(?i)`: PostgreSQL folds ASCII only), multi-character collating elements, and
/// anything ICU cannot compile (an unbounded look-behind). Syntax PostgreSQL itself rejects gives
/// `.invalid` with `pg_regerror()`'s text.
struct PostgresRegex {
    /// The pattern as written (after the leading `/`).
    let source: String
    /// The ICU pattern it was translated to.
    let icuPattern: String
    /// Capturing groups in the PostgreSQL sense (none inside look-arounds).
    let captureGroupCount: Int
    /// Set when the pattern uses alternation or non-greedy quantifiers: PostgreSQL's POSIX
    /// subexpression rules may then put different text in `\1` than Perl-style matching would.
    let captureDivergence: String?
    private let regex: NSRegularExpression
    private let endAnchored: NSRegularExpression

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
        do {
            try translator.translate()
        } catch let error as Translator.Failure {
            switch error {
            case .invalid(let message): return .invalid(message)
            case .unsupported(let reason): return .unsupported(reason)
            }
        } catch {
            return .unsupported("\(error)")
        }
        // ICU refuses an empty pattern; "(?:)" matches the empty string like PostgreSQL's "".
        let pattern = translator.output.isEmpty ? "(?:)" : translator.output
        guard let regex = try? NSRegularExpression(pattern: pattern, options: []),
              let endAnchored = try? NSRegularExpression(pattern: "(?:" + pattern + ")\\z", options: [])
        else {
            return .unsupported("NSRegularExpression cannot evaluate this pattern (for example a look-behind of unbounded length)")
        }
        var divergence: [String] = []
        if translator.usesAlternation { divergence.append("alternation (|)") }
        if translator.usesNonGreedy { divergence.append("non-greedy quantifiers") }
        return .regex(PostgresRegex(
            source: source, icuPattern: pattern, captureGroupCount: translator.groupCount,
            captureDivergence: divergence.isEmpty ? nil : divergence.joined(separator: " and "),
            regex: regex, endAnchored: endAnchored))
    }

    /// Whether the pattern matches anywhere in `subject` (`pg_regexec()` with no anchoring).
    func matches(_ subject: String) -> Bool {
        regex.firstMatch(in: subject, options: [.withTransparentBounds],
                         range: NSRange(location: 0, length: (subject as NSString).length)) != nil
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
        let text = subject as NSString
        let length = text.length
        guard let first = regex.firstMatch(in: subject, options: [.withTransparentBounds],
                                           range: NSRange(location: 0, length: length)) else {
            return .noMatch
        }
        var best = first
        if captureDivergence == nil {
            let start = first.range.location
            // Scalar boundaries only, longest first.
            var ends: [Int] = []
            var offset = 0
            for scalar in subject.unicodeScalars {
                if offset >= start { ends.append(offset) }
                offset += scalar.utf16.count
            }
            ends.append(offset)
            for end in ends.reversed() where end >= first.range.upperBound {
                if let match = endAnchored.firstMatch(in: subject, options: [.anchored, .withTransparentBounds],
                                                      range: NSRange(location: start, length: end - start)) {
                    best = match
                    break
                }
            }
        }
        let whole = text.substring(with: best.range)
        guard captureGroupCount >= 1, best.numberOfRanges > 1 else { return .match(whole: whole, group1: nil) }
        let group = best.range(at: 1)
        guard group.location != NSNotFound else { return .match(whole: whole, group1: nil) }
        return .match(whole: whole, group1: text.substring(with: group))
    }
}

// MARK: - Translation

/// Reads an ARE and writes an equivalent ICU pattern (see `PostgresRegex`).
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

    private enum Paren {
        case capturing, nonCapturing, lookaround
    }

    private let chars: [Unicode.Scalar]
    private var index = 0
    private(set) var output = ""
    private(set) var groupCount = 0
    private(set) var usesAlternation = false
    private(set) var usesNonGreedy = false
    private var last = Last.start
    private var parens: [Paren] = []
    private var lookaroundDepth = 0

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

    static let wordSet = "[0-9A-Za-z_]"
    static let stringStart = "(?<![\\s\\S])"
    static let stringEnd = "(?![\\s\\S])"

    init(_ chars: [Unicode.Scalar]) {
        self.chars = chars
    }

    private var atEnd: Bool { index >= chars.count }
    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < chars.count ? chars[index + offset] : nil
    }

    mutating func translate() throws {
        if try prefixes() { return }
        while !atEnd {
            let c = chars[index]
            index += 1
            switch c {
            case "|":
                usesAlternation = true
                output += "|"
                last = .start
            case "*", "+", "?":
                try quantifier(String(c))
            case "{":
                if let next = peek(), next.properties.numericType != nil, next.isASCII {
                    try bound()
                } else {
                    emitLiteral(c)
                }
            case "(":
                try openParen()
            case ")":
                guard let kind = parens.popLast() else { throw Failure.invalid(Self.unbalancedParens) }
                output += ")"
                if kind == .lookaround {
                    lookaroundDepth -= 1
                    last = .constraint
                } else {
                    last = .atom
                }
            case "[":
                try bracket()
            case ".":
                output += "[\\x{0}-\\x{10FFFF}]"
                last = .atom
            case "^":
                output += Self.stringStart
                last = .constraint
            case "$":
                output += Self.stringEnd
                last = .constraint
            case "\\":
                try escape()
            default:
                emitLiteral(c)
            }
        }
        if !parens.isEmpty { throw Failure.invalid(Self.unbalancedParens) }
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
                throw Failure.unsupported("embedded option (?\(letters)) changes matching in ways NSRegularExpression does not reproduce (for example (?i) folds ASCII only in PostgreSQL)")
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

    private mutating func quantifier(_ symbol: String) throws {
        guard last == .atom else { throw Failure.invalid(Self.badRepeat) }
        output += symbol
        if peek() == "?" {
            index += 1
            output += "?"
            usesNonGreedy = true
        }
        last = .quantified
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
        if open {
            output += "{\(minimum),}"
        } else if let maximum, maximum != minimum {
            output += "{\(minimum),\(maximum)}"
        } else {
            output += "{\(minimum)}"
        }
        if peek() == "?" {
            index += 1
            output += "?"
            usesNonGreedy = true
        }
        last = .quantified
    }

    private mutating func openParen() throws {
        if peek() == "?" {
            index += 1
            guard let kind = peek() else { throw Failure.invalid(Self.badRepeat) }
            index += 1
            switch kind {
            case ":":
                parens.append(.nonCapturing)
                output += "(?:"
                last = .start
            case "#":
                while let c = peek(), c != ")" { index += 1 }
                if !atEnd { index += 1 }
            case "=", "!":
                parens.append(.lookaround)
                lookaroundDepth += 1
                output += "(?\(kind)"
                last = .start
            case "<":
                guard let direction = peek(), direction == "=" || direction == "!" else {
                    throw Failure.invalid(Self.badRepeat)
                }
                index += 1
                parens.append(.lookaround)
                lookaroundDepth += 1
                output += "(?<\(direction)"
                last = .start
            default:
                throw Failure.invalid(Self.badRepeat)
            }
            return
        }
        if lookaroundDepth > 0 {
            // "all parentheses within them are considered non-capturing" (PostgreSQL docs, 9.7.3.3).
            parens.append(.nonCapturing)
            output += "(?:"
        } else {
            parens.append(.capturing)
            groupCount += 1
            output += "("
        }
        last = .start
    }

    // MARK: escapes

    private enum Escape {
        case character(UInt32)
        case set(String)          // an ICU set, used outside brackets
        case classRanges([ClosedRange<UInt32>], negated: Bool)
        case constraint(String)
    }

    private mutating func escape() throws {
        switch try readEscape(inBracket: false) {
        case .character(let value):
            output += Self.hex(value)
            last = .atom
        case .set(let set):
            output += set
            last = .atom
        case .classRanges(let ranges, let negated):
            output += Self.set(ranges, negated: negated)
            last = .atom
        case .constraint(let pattern):
            output += pattern
            last = .constraint
        }
    }

    /// `lexescape()` in regc_lex.c, for the escapes the simulator reproduces.
    private mutating func readEscape(inBracket: Bool) throws -> Escape {
        guard let c = peek() else { throw Failure.invalid(Self.badEscape) }
        index += 1
        let word = "[0-9A-Za-z_]"
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
            case "m": return .constraint("(?<!\(word))(?=\(word))")
            case "M": return .constraint("(?<=\(word))(?!\(word))")
            case "y": return .constraint("(?:(?<!\(word))(?=\(word))|(?<=\(word))(?!\(word)))")
            default: return .constraint("(?:(?<=\(word))(?=\(word))|(?<!\(word))(?!\(word)))")
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
            let word = Self.wordSet
            output += start ? "(?<!\(word))(?=\(word))" : "(?<=\(word))(?!\(word))"
            last = .constraint
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
        output += Self.set(ranges, negated: negated)
        last = .atom
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
        if c.isASCII, c.properties.isAlphabetic || c.properties.numericType != nil {
            output.unicodeScalars.append(c)
        } else {
            output += Self.hex(c.value)
        }
        last = .atom
    }
}
