import Foundation
import XCTest
@testable import PGAuthFiles

/// Where PostgreSQL's ARE (C collation) and NSRegularExpression read the same pattern differently,
/// and how the translation keeps PostgreSQL's meaning.
final class IdentRegexTests: XCTestCase {
    private func regex(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> PostgresRegex? {
        switch PostgresRegex.compile(source) {
        case .regex(let regex): return regex
        case .invalid(let message): XCTFail("invalid: \(message)", file: file, line: line)
        case .unsupported(let reason): XCTFail("unsupported: \(reason)", file: file, line: line)
        }
        return nil
    }

    private func matches(_ source: String, _ subject: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        regex(source, file: file, line: line)?.matches(subject) ?? false
    }

    private func icuMatches(_ pattern: String, _ subject: String) -> Bool {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.firstMatch(in: subject, range: NSRange(location: 0, length: (subject as NSString).length)) != nil
    }

    func testRegexMapIsUnanchoredWithoutCaret() {
        XCTAssertTrue(matches("alice", "xalicey"))
        XCTAssertTrue(matches("^alice", "alicey"))
        XCTAssertFalse(matches("^alice$", "alicey"))
    }

    func testMatchingIsCaseSensitive() {
        XCTAssertFalse(matches("^Alice$", "alice"))
        XCTAssertTrue(matches("^Alice$", "Alice"))
    }

    func testDollarDoesNotMatchBeforeATrailingNewline() {
        XCTAssertTrue(icuMatches("^alice$", "alice\n"), "ICU's $ also matches before a final newline")
        XCTAssertFalse(matches("^alice$", "alice\n"))
        XCTAssertFalse(matches(#"^alice\Z"#, "alice\n"))
    }

    func testDotMatchesAnyCharacterAndCRLFIsTwo() {
        XCTAssertTrue(matches("^a.b$", "a\nb"))
        XCTAssertTrue(matches("^a..b$", "a\r\nb"))
        XCTAssertFalse(matches("^a.b$", "a\r\nb"))
    }

    func testClassShorthandsAndPosixClassesAreASCIIOnly() {
        XCTAssertTrue(icuMatches(#"^\w+$"#, "é"), "ICU classes are Unicode")
        XCTAssertFalse(matches(#"^\w+$"#, "é"))
        XCTAssertFalse(matches("^[[:alpha:]]+$", "é"))
        XCTAssertFalse(matches(#"^\d$"#, "٣"))
        XCTAssertTrue(matches(#"^\w+$"#, "alice_01"))
        XCTAssertTrue(matches(#"^[\w.-]+$"#, "a.b-c"))
        XCTAssertTrue(matches("^[^[:space:]]+$", "CN=alice"))
    }

    func testBackslashBIsBackspaceAndBackslashYIsAWordBoundary() {
        XCTAssertFalse(matches(#"\balice"#, "alice"))
        XCTAssertTrue(matches(#"\balice"#, "\u{8}alice"))
        XCTAssertTrue(matches(#"\yalice\y"#, "CN=alice,O=x"))
        XCTAssertFalse(matches(#"\yalice\y"#, "CN=alices"))
        XCTAssertTrue(matches(#"\malice\M"#, "x alice y"))
        XCTAssertTrue(matches("[[:<:]]alice[[:>:]]", "x alice y"))
    }

    func testBraceNotFollowedByADigitIsALiteral() {
        XCTAssertTrue(matches("^a{b$", "a{b"))
        XCTAssertTrue(matches("^a{,2}$", "a{,2}"))
        XCTAssertTrue(matches("^a{2}$", "aa"))
        XCTAssertTrue(matches("^a{1,2}b{2,}$", "abbb"))
    }

    func testParenthesesInsideLookaheadDoNotCapture() {
        guard let regex = regex("^(?=(x))(.*)$") else { return }
        XCTAssertEqual(regex.captureGroupCount, 1)
        XCTAssertEqual(regex.firstCapture(in: "xyz"), .match(whole: "xyz", group1: "xyz"))
    }

    func testLongestOverallMatchDecidesTheCapture() {
        // Perl-style matching stops at "a" (a? takes the a, (ab)? then fails); PostgreSQL takes the
        // longest match "ab", so \1 is empty.
        guard let regex = regex("^(a?)(ab)?") else { return }
        XCTAssertEqual(regex.firstCapture(in: "ab"), .match(whole: "ab", group1: ""))
    }

    func testFirstGroupOfAnEmailPattern() {
        guard let regex = regex(#"^(.*)@example\.com$"#) else { return }
        XCTAssertEqual(regex.firstCapture(in: "alice@example.com"), .match(whole: "alice@example.com", group1: "alice"))
        XCTAssertEqual(regex.firstCapture(in: "alice@example.org"), .noMatch)
        guard let unanchored = self.regex("(.*)@") else { return }
        XCTAssertEqual(unanchored.firstCapture(in: "a@b@c"), .match(whole: "a@b@", group1: "a@b"))
    }

    func testNonParticipatingGroupIsNil() {
        guard let regex = regex("^alice(x)?$") else { return }
        XCTAssertEqual(regex.firstCapture(in: "alice"), .match(whole: "alice", group1: nil))
    }

    func testSpecialCharactersAreLiteralsAfterABackslash() {
        XCTAssertTrue(matches(#"^CN=a\+b,O=x$"#, "CN=a+b,O=x"))
        XCTAssertTrue(matches(#"^\.\*\?$"#, ".*?"))
        XCTAssertTrue(matches(#"^\u0041\x42\U00000043$"#, "ABC"))
        XCTAssertTrue(matches("^é$", "é"))
    }

    func testQuotePrefixesAndHarmlessOptions() {
        XCTAssertTrue(matches("***=a.b", "xa.by"))
        XCTAssertFalse(matches("***=a.b", "axb"))
        XCTAssertTrue(matches("***:^a.b$", "axb"))
        XCTAssertTrue(matches("(?c)^alice$", "alice"))
        XCTAssertTrue(matches("(?q)a.b", "a.b"))
        XCTAssertFalse(matches("(?q)a.b", "axb"))
        XCTAssertTrue(matches("a(?#comment)b", "ab"))
    }

    func testPatternsPostgresRejects() {
        let cases: [(String, String)] = [
            ("a**", "quantifier operand invalid"),
            ("*a", "quantifier operand invalid"),
            ("a|*b", "quantifier operand invalid"),
            ("^*", "quantifier operand invalid"),
            ("(?z)", "invalid embedded option"),
            ("(?i", "invalid embedded option"),
            ("a(?z)", "quantifier operand invalid"),
            ("***?", "invalid regexp (reg version 0.8)"),
            ("***x", "quantifier operand invalid"),
            ("(a", "parentheses () not balanced"),
            ("a)", "parentheses () not balanced"),
            ("[a", "brackets [] not balanced"),
            ("[[:alpha:", "brackets [] not balanced"),
            ("a{3", "braces {} not balanced"),
            ("a{3x}", "invalid repetition count(s)"),
            ("a{2,1}", "invalid repetition count(s)"),
            ("a{256}", "invalid repetition count(s)"),
            (#"\q"#, "invalid escape \\ sequence"),
            (#"a\"#, "invalid escape \\ sequence"),
            (#"\u12"#, "invalid escape \\ sequence"),
            (#"[\D]"#, "invalid escape \\ sequence"),
            ("[z-a]", "invalid character range"),
            ("[a-c-e]", "invalid character range"),
            ("[[:foo:]]", "invalid character class"),
        ]
        for (pattern, message) in cases {
            guard case .invalid(let got) = PostgresRegex.compile(pattern) else {
                XCTFail("\(pattern) should be invalid")
                continue
            }
            XCTAssertEqual(got, message, pattern)
        }
    }

    func testFeaturesTheSimulatorRefusesInsteadOfGuessing() {
        for pattern in ["(?i)alice", "(?x)a b", #"(a)\1"#, #"\0"#, "[[.space.]]", "(?<=a*)b"] {
            guard case .unsupported = PostgresRegex.compile(pattern) else {
                XCTFail("\(pattern) should be refused")
                continue
            }
        }
    }

    func testBracketEdgeCases() {
        XCTAssertTrue(matches("^[]a]+$", "]a"))
        XCTAssertTrue(matches("^[^]a]$", "b"))
        XCTAssertTrue(matches("^[a-]+$", "a-"))
        XCTAssertTrue(matches("^[-a]+$", "-a"))
        XCTAssertTrue(matches("^[[.-.]x]+$", "-x"))
        XCTAssertTrue(matches("^[[=e=]]$", "e"))
        XCTAssertTrue(matches(#"^[\n]$"#, "\n"))
        XCTAssertTrue(matches("^[^a]$", "\n"), "a negated bracket matches a newline")
    }

    func testEmptyPatternMatchesEverything() {
        XCTAssertTrue(matches("", "anything"))
    }

    func testLookaroundAndLookbehind() {
        XCTAssertTrue(matches("^alice(?=@)", "alice@x"))
        XCTAssertFalse(matches("^alice(?!@)", "alice@x"))
        XCTAssertTrue(matches("(?<=CN=)alice", "CN=alice"))
        XCTAssertFalse(matches("(?<!CN=)alice", "CN=alice"))
    }
}
