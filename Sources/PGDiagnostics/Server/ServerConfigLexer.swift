/// The tokens of postgresql.conf as the server's scanner makes them (`guc-file.l`, the same in
/// PostgreSQL 13–17): flex picks the longest match, and among equally long matches the rule
/// listed first, in this order: `ID`, `QUALIFIED_ID`, `STRING`, `UNQUOTED_STRING`, `INTEGER`,
/// `REAL`, `=`, anything else an error token.
///
/// One consequence a DBA meets: `ssl_cert_file = server.crt` unquoted is a `QUALIFIED_ID`, which
/// is not a value, and the server stops with `syntax error ... near token "server.crt"`
/// (proven with `postgres -C` in ServerSetupTests).
enum ServerConfigLexer {
    enum Kind: Equatable {
        case id, qualifiedID, string, unquotedString, integer, real, equals, error
    }

    struct Token: Equatable {
        var kind: Kind
        /// The token's text as written (quotes and escapes included for strings).
        var text: String
    }

    /// The tokens of one physical line (a `#` starts a comment to the end of the line).
    static func tokens(_ line: [UInt8]) -> [Token] {
        var result: [Token] = []
        var index = 0
        while index < line.count {
            let byte = line[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0D { index += 1; continue }
            if byte == UInt8(ascii: "#") { break }
            // Longest match among the rules; ties go to the earlier rule.
            let candidates: [(Kind, Int)] = [
                (.id, matchID(line, index)),
                (.qualifiedID, matchQualifiedID(line, index)),
                (.string, matchString(line, index)),
                (.unquotedString, matchUnquoted(line, index)),
                (.integer, matchInteger(line, index)),
                (.real, matchReal(line, index)),
                (.equals, byte == UInt8(ascii: "=") ? 1 : 0),
            ]
            var best: (Kind, Int) = (.error, 1)
            for candidate in candidates where candidate.1 > 0 && (best.0 == .error || candidate.1 > best.1) {
                best = candidate
            }
            let end = index + best.1
            result.append(Token(kind: best.0, text: String(decoding: line[index..<end], as: UTF8.self)))
            index = end
        }
        return result
    }

    /// `GUC_scanstr()`: the value of a quoted string, quotes removed and escapes resolved
    /// (`''` and `\'` are a quote; `\b \f \n \r \t`; `\NNN` octal; any other `\x` is `x`).
    static func unquote(_ text: String) -> String {
        let bytes = Array(text.utf8.dropFirst().dropLast())
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                index += 1
                let next = bytes[index]
                switch next {
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var value = Int(next - 48)
                    var digits = 1
                    while digits < 3, index + 1 < bytes.count, (48...55).contains(bytes[index + 1]) {
                        index += 1
                        value = value * 8 + Int(bytes[index] - 48)
                        digits += 1
                    }
                    output.append(UInt8(truncatingIfNeeded: value))
                default: output.append(next)
                }
            } else if byte == UInt8(ascii: "'"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") {
                output.append(byte)
                index += 1
            } else {
                output.append(byte)
            }
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    // MARK: Rules

    /// `LETTER [A-Za-z_\200-\377]`.
    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 95 || byte >= 0x80
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= 65 && byte <= 70) || (byte >= 97 && byte <= 102)
    }

    /// `ID {LETTER}{LETTER_OR_DIGIT}*`: the length matched at `start`, 0 when none.
    private static func matchID(_ line: [UInt8], _ start: Int) -> Int {
        guard start < line.count, isLetter(line[start]) else { return 0 }
        var end = start + 1
        while end < line.count, isLetter(line[end]) || isDigit(line[end]) { end += 1 }
        return end - start
    }

    /// `QUALIFIED_ID {ID}"."{ID}`.
    private static func matchQualifiedID(_ line: [UInt8], _ start: Int) -> Int {
        let first = matchID(line, start)
        guard first > 0, start + first < line.count, line[start + first] == UInt8(ascii: ".") else { return 0 }
        let second = matchID(line, start + first + 1)
        return second > 0 ? first + 1 + second : 0
    }

    /// `UNQUOTED_STRING {LETTER}({LETTER_OR_DIGIT}|[-._:/])*`.
    private static func matchUnquoted(_ line: [UInt8], _ start: Int) -> Int {
        guard start < line.count, isLetter(line[start]) else { return 0 }
        var end = start + 1
        while end < line.count {
            let byte = line[end]
            guard isLetter(byte) || isDigit(byte) || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                                                      UInt8(ascii: ":"), UInt8(ascii: "/")].contains(byte) else { break }
            end += 1
        }
        return end - start
    }

    /// `STRING \'([^'\\\n]|\\.|\'\')*\'`.
    private static func matchString(_ line: [UInt8], _ start: Int) -> Int {
        guard start < line.count, line[start] == UInt8(ascii: "'") else { return 0 }
        var end = start + 1
        while end < line.count {
            let byte = line[end]
            if byte == UInt8(ascii: "\\") {
                guard end + 1 < line.count, line[end + 1] != 0x0A else { return 0 }
                end += 2
            } else if byte == UInt8(ascii: "'") {
                if end + 1 < line.count, line[end + 1] == UInt8(ascii: "'") { end += 2; continue }
                return end + 1 - start
            } else {
                end += 1
            }
        }
        return 0
    }

    /// `INTEGER {SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*`.
    private static func matchInteger(_ line: [UInt8], _ start: Int) -> Int {
        var end = start
        if end < line.count, line[end] == UInt8(ascii: "-") || line[end] == UInt8(ascii: "+") { end += 1 }
        var digitsEnd = end
        while digitsEnd < line.count, isDigit(line[digitsEnd]) { digitsEnd += 1 }
        if digitsEnd == end { return 0 }
        // 0x followed by hex digits is longer than the lone 0.
        if line[end] == UInt8(ascii: "0"), end + 2 < line.count, line[end + 1] == UInt8(ascii: "x"), isHexDigit(line[end + 2]) {
            var hexEnd = end + 2
            while hexEnd < line.count, isHexDigit(line[hexEnd]) { hexEnd += 1 }
            digitsEnd = max(digitsEnd, hexEnd)
        }
        var unitEnd = digitsEnd
        while unitEnd < line.count, (line[unitEnd] >= 65 && line[unitEnd] <= 90) || (line[unitEnd] >= 97 && line[unitEnd] <= 122) {
            unitEnd += 1
        }
        return unitEnd - start
    }

    /// `REAL {SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?`.
    private static func matchReal(_ line: [UInt8], _ start: Int) -> Int {
        var end = start
        if end < line.count, line[end] == UInt8(ascii: "-") || line[end] == UInt8(ascii: "+") { end += 1 }
        while end < line.count, isDigit(line[end]) { end += 1 }
        guard end < line.count, line[end] == UInt8(ascii: ".") else { return 0 }
        end += 1
        while end < line.count, isDigit(line[end]) { end += 1 }
        if end < line.count, line[end] == UInt8(ascii: "e") || line[end] == UInt8(ascii: "E") {
            var exponent = end + 1
            if exponent < line.count, line[exponent] == UInt8(ascii: "-") || line[exponent] == UInt8(ascii: "+") { exponent += 1 }
            let digits = exponent
            while exponent < line.count, isDigit(line[exponent]) { exponent += 1 }
            if exponent > digits { end = exponent }
        }
        return end - start
    }
}
