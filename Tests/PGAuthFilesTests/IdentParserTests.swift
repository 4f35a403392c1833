import XCTest
@testable import PGAuthFiles

/// pg_ident.conf parsing as `parse_ident_line()` does it.
final class IdentParserTests: XCTestCase {
    func testDocumentationExampleParses() {
        // client-auth.sgml, Example 21.2.
        let file = IdentFile.parse("""
        # MAPNAME       SYSTEM-USERNAME         PG-USERNAME

        omicron         bryanh                  bryanh
        omicron         ann                     ann
        # bob has user name robert on these machines
        omicron         robert                  bob
        # bryanh can also connect as guest1
        omicron         bryanh                  guest1
        """)
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.mappings.map(\.lineNumber), [3, 4, 6, 8])
        XCTAssertEqual(file.mappings.map(\.systemUser), ["bryanh", "ann", "robert", "bryanh"])
        XCTAssertEqual(file.mappings.map(\.databaseUser), ["bryanh", "ann", "bob", "guest1"])
        XCTAssertEqual(file.minimumServerVersion, 15)
    }

    func testRegexSystemUserKeepsThePatternWithoutTheSlash() throws {
        let file = IdentFile.parse(#"mymap   /^(.*)@mydomain\.com$      \1"#)
        let mapping = try XCTUnwrap(file.mappings.first)
        XCTAssertTrue(mapping.systemUserIsRegex)
        XCTAssertEqual(mapping.systemUser, #"^(.*)@mydomain\.com$"#)
        XCTAssertEqual(mapping.databaseUser, #"\1"#)
        XCTAssertEqual(mapping.text, #"mymap   /^(.*)@mydomain\.com$      \1"#)
    }

    func testQuotedDistinguishedNameIsOneToken() throws {
        // src/test/ssl/t/SSL/Server.pm: DN maps must be quoted because DNs contain commas.
        let file = IdentFile.parse(#"dn "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG" ssltestuser"#)
        XCTAssertEqual(file.mappings.first?.systemUser, "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG")
        XCTAssertEqual(file.mappings.first?.systemUserIsRegex, false)
    }

    func testQuotedRegexIsStillARegex() throws {
        let file = IdentFile.parse(#"dnregex "/^.*OU=Testing,.*$" ssltestuser"#)
        XCTAssertEqual(file.mappings.first?.systemUserIsRegex, true)
        XCTAssertEqual(file.mappings.first?.systemUser, "^.*OU=Testing,.*$")
    }

    func testUnquotedDistinguishedNameBecomesAListAndIsAnError() {
        let file = IdentFile.parse("dn CN=alice,O=PGDG alice")
        XCTAssertEqual(file.errors.map(\.message), ["multiple values in ident field"])
    }

    func testErrorMessages() {
        let cases: [(String, String)] = [
            ("certmap alice", "missing entry at end of line"),
            ("certmap", "missing entry at end of line"),
            ("a,b alice alice", "multiple values in ident field"),
            ("certmap alice alice,bob", "multiple values in ident field"),
            ("certmap /(alice alice", "invalid regular expression \"(alice\": parentheses () not balanced"),
            ("certmap alice /[x", "invalid regular expression \"[x\": brackets [] not balanced"),
        ]
        for (line, message) in cases {
            let file = IdentFile.parse(line)
            XCTAssertEqual(file.errors.map(\.message), [message], line)
            XCTAssertEqual(file.errors.first?.line, 1)
            XCTAssertTrue(file.mappings.isEmpty, line)
        }
    }

    func testDatabaseUserKeywordsNeedVersion16() {
        for line in ["m alice all", "m alice +admins", "m alice /^a"] {
            let file = IdentFile.parse(line)
            XCTAssertEqual(file.minimumServerVersion, 16, line)
            XCTAssertEqual(file.mappings.count, 1, line)
        }
        XCTAssertEqual(IdentFile.parse(#"m alice "all""#).minimumServerVersion, 15, "a quoted all is a name in every version")
    }

    func testExtraFieldsAreIgnoredWithANote() {
        let file = IdentFile.parse("m alice alice extra")
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.mappings.count, 1)
        XCTAssertTrue(file.notes.contains { $0.message.contains("ignored") })
    }

    func testUnsupportedRegexIsASimulatorLimitationAndTheMappingIsKept() {
        let file = IdentFile.parse(#"m /(?i)^alice$ alice"#)
        XCTAssertEqual(file.mappings.count, 1)
        XCTAssertTrue(file.serverErrors.isEmpty)
        XCTAssertEqual(file.errors.map(\.isSimulatorLimitation), [true])
    }

    func testBackreferenceWithAlternationIsFlagged() {
        let file = IdentFile.parse(#"m /^(a|ab)(b?)$ \1"#)
        XCTAssertEqual(file.errors.map(\.isSimulatorLimitation), [true])
        XCTAssertTrue(IdentFile.parse(#"m /^(a|ab)(b?)$ alice"#).errors.isEmpty, "without \\1 only match or no match matters")
    }

    func testMappingFromViewRow() {
        let mapping = IdentMapping(fileMappingsViewRow: 3, fileName: "pg_ident.conf", mapName: "certmap",
                                   systemName: #"/^(.*)@example\.com$"#, databaseUserName: #"\1"#)
        XCTAssertTrue(mapping.systemUserIsRegex)
        XCTAssertEqual(mapping.systemUser, #"^(.*)@example\.com$"#)
    }
}
