import Foundation
import XCTest
@testable import PGAuthFiles

/// pg_hba.conf parsing as `tokenize_auth_file()` / `parse_hba_line()` do it.
final class HBAParserTests: XCTestCase {
    private func parse(_ text: String) -> HBAFile { HBAFile.parse(text, path: "/nonexistent/pg_hba.conf") }

    private func singleError(_ line: String, file: StaticString = #filePath, lineNumber: UInt = #line) -> String? {
        let result = parse(line)
        XCTAssertTrue(result.rules.isEmpty, "expected no rule for \(line)", file: file, line: lineNumber)
        return result.serverErrors.first?.message
    }

    // MARK: documentation example (client-auth.sgml, Example 21.1)

    func testDocumentationExampleParsesLikeTheServer() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("admins", "alice\nbob, carol # admins\n")
        try directory.write("demodbs", "demo1 demo2\n")
        let example = #"""
        # TYPE  DATABASE        USER            ADDRESS                 METHOD
        local   all             all                                     trust
        host    all             all             127.0.0.1/32            trust
        host    all             all             127.0.0.1       255.255.255.255     trust
        host    all             all             ::1/128                 trust
        host    all             all             localhost               trust
        local   db1,"/^db\d{2,4}$",db2     all             localhost        trust
        host    postgres        all             192.168.93.0/24         ident
        host    postgres        all             192.168.12.10/32        scram-sha-256
        host    all             mike            .example.com            md5
        host    all             all             .example.com            scram-sha-256
        host    all             all             192.168.54.1/32         reject
        hostgssenc all          all             0.0.0.0/0               gss
        host    all             all             192.168.12.10/32        gss
        host    all             all             192.168.0.0/16          ident map=omicron
        local   sameuser        all                                     md5
        local   all             /^.*helpdesk$                           md5
        local   all             @admins                                 md5
        local   all             +support                                md5
        local   all             @admins,+support                        md5
        local   db1,db2,@demodbs  all                                   md5
        """#
        let file = HBAFile.parse(example, path: directory.path("pg_hba.conf"))
        // The documentation's regex example puts an address on a local line: the server reads
        // "localhost" as the method.
        XCTAssertEqual(file.serverErrors.map(\.message), ["invalid authentication method \"localhost\""])
        XCTAssertEqual(file.serverErrors.first?.line, 7)
        XCTAssertEqual(file.rules.count, 19)
        XCTAssertEqual(file.rules[0].connectionType, .local)
        XCTAssertNil(file.rules[0].address)
        XCTAssertEqual(file.rules[1].address, .cidr(address: "127.0.0.1", prefixLength: 32))
        XCTAssertEqual(file.rules[2].address, .addressMask(address: "127.0.0.1", mask: "255.255.255.255"))
        XCTAssertEqual(file.rules[3].address, .cidr(address: "::1", prefixLength: 128))
        XCTAssertEqual(file.rules[4].address, .hostName("localhost"))
        XCTAssertEqual(file.rules[7].users, [HBAToken(value: "mike")])
        XCTAssertEqual(file.rules[7].address, .hostName(".example.com"))
        XCTAssertEqual(file.rules[10].connectionType, .hostgssenc)
        XCTAssertEqual(file.rules[12].map, "omicron")
        XCTAssertEqual(file.rules[12].options, ["map": "omicron"])
        XCTAssertTrue(file.rules[13].databases[0].isKeyword("sameuser"))
        XCTAssertEqual(file.rules[14].users[0].regularExpressionSource, "^.*helpdesk$")
        XCTAssertEqual(file.rules[15].users.map(\.value), ["alice", "bob", "carol"])
        XCTAssertEqual(file.rules[16].users[0].membershipRole, "support")
        XCTAssertEqual(file.rules[17].users.map(\.value), ["alice", "bob", "carol", "+support"])
        XCTAssertEqual(file.rules[18].databases.map(\.value), ["db1", "db2", "demo1", "demo2"])
        XCTAssertEqual(Set(file.files), [directory.path("pg_hba.conf"), directory.path("admins"), directory.path("demodbs")])
        XCTAssertEqual(file.minimumServerVersion, 16, "regular expressions in the user column need 16")
    }

    // MARK: tokens, quotes, lists, comments, continuations

    func testQuotedKeywordIsALiteralName() throws {
        let rule = try XCTUnwrap(parse(#"host "all" "+admins" 10.0.0.0/8 md5"#).rules.first)
        XCTAssertEqual(rule.databases, [HBAToken(value: "all", quoted: true)])
        XCTAssertFalse(rule.databases[0].isAll)
        XCTAssertNil(rule.users[0].membershipRole)
        XCTAssertEqual(rule.users[0].value, "+admins")
    }

    func testQuoteOnlyAtTheStartMakesATokenQuoted() throws {
        // next_token() sets initial_quote only for a leading quote: a"ll" is the keyword all.
        let rule = try XCTUnwrap(parse(#"host a"ll" all 10.0.0.0/8 md5"#).rules.first)
        XCTAssertTrue(rule.databases[0].isAll)
    }

    func testQuotedTokenKeepsBlanksCommasHashAndDoubledQuotes() throws {
        let rule = try XCTUnwrap(parse(#"host "my db,x#y" "a""b" 10.0.0.0/8 md5 # trailing"#).rules.first)
        XCTAssertEqual(rule.databases, [HBAToken(value: "my db,x#y", quoted: true)])
        XCTAssertEqual(rule.users, [HBAToken(value: "a\"b", quoted: true)])
    }

    func testCommaListsWithOrWithoutBlanksAfterTheComma() throws {
        let compact = try XCTUnwrap(parse("host db1,db2 all 10.0.0.0/8 md5").rules.first)
        let spaced = try XCTUnwrap(parse("host db1, db2 all 10.0.0.0/8 md5").rules.first)
        XCTAssertEqual(compact.databases.map(\.value), ["db1", "db2"])
        XCTAssertEqual(spaced.databases.map(\.value), ["db1", "db2"])
    }

    func testBlankBeforeACommaEndsTheFieldAndShiftsColumns() {
        // "db1 ,db2": the blank ends the field, so db2 becomes the user column and every later column
        // moves one place — a classic cause of a confusing method error.
        let file = parse("host db1 ,db2 all 10.0.0.0/8 md5")
        XCTAssertEqual(file.serverErrors.map(\.message), ["invalid authentication method \"10.0.0.0/8\""])
    }

    func testCommentsOutsideQuotesAndBlankLinesAreSkipped() throws {
        let file = parse("# comment\n\n   \t\nhost all all 10.0.0.0/8 md5 # why\n#host all all 0.0.0.0/0 trust\n")
        XCTAssertEqual(file.rules.count, 1)
        XCTAssertEqual(file.rules[0].lineNumber, 4)
        XCTAssertEqual(file.rules[0].method, "md5")
    }

    func testBackslashContinuationJoinsLinesAndKeepsTheFirstLineNumber() throws {
        let file = parse("host all \\\n  all \\\n 10.0.0.0/8 md5\nhostssl all all 0.0.0.0/0 cert\n")
        XCTAssertEqual(file.rules.count, 2)
        XCTAssertEqual(file.rules[0].lineNumber, 1)
        XCTAssertEqual(file.rules[0].text, "host all   all  10.0.0.0/8 md5")
        XCTAssertEqual(file.rules[1].lineNumber, 4)
    }

    func testContinuationWorksInsideQuotesAndComments() throws {
        let file = parse("host \"my \\\ndb\" all 10.0.0.0/8 md5 # comment \\\nstill comment\nlocal all all trust")
        XCTAssertEqual(file.rules.first?.databases.first?.value, "my db")
        XCTAssertEqual(file.rules.count, 2)
        XCTAssertEqual(file.rules[1].lineNumber, 4)
    }

    func testCarriageReturnsAreBlanksAndLineEndingsAreStripped() throws {
        let file = parse("host\rall all 10.0.0.0/8 md5\r\nlocal all all trust\r\n")
        XCTAssertEqual(file.rules.map(\.method), ["md5", "trust"])
    }

    func testUnterminatedQuoteTakesTheRestOfTheLine() {
        // The server does not detect an unterminated quote: the rest of the line becomes one token.
        let file = parse(#"host "all all 10.0.0.0/8 md5"#)
        XCTAssertEqual(file.serverErrors.map(\.message), ["end-of-line before role specification"])
    }

    func testErrorsAreReportedPerLineAndParsingContinues() {
        let file = parse("local all all trust\nhostsl all all 10.0.0.0/8 md5\nhost all all 10.0.0.0/8 md5\n")
        XCTAssertEqual(file.rules.map(\.lineNumber), [1, 3])
        XCTAssertEqual(file.errors, [AuthFileError(file: "/nonexistent/pg_hba.conf", line: 2,
                                                   message: "invalid connection type \"hostsl\"")])
    }

    func testEmptyFileHasNoEntries() {
        XCTAssertEqual(parse("# nothing\n").errors.map(\.message),
                       ["configuration file \"/nonexistent/pg_hba.conf\" contains no entries"])
    }

    // MARK: every error message

    func testServerErrorMessages() {
        let cases: [(String, String)] = [
            ("hostsl all all 10.0.0.0/8 md5", "invalid connection type \"hostsl\""),
            ("host,local all all 10.0.0.0/8 md5", "multiple values specified for connection type"),
            ("host", "end-of-line before database specification"),
            ("host all", "end-of-line before role specification"),
            ("host all all", "end-of-line before IP address specification"),
            ("host all all 10.0.0.0/8", "end-of-line before authentication method"),
            ("host all all 10.0.0.1", "end-of-line before netmask specification"),
            ("host all all 10.0.0.0/8,10.1.0.0/16 md5", "multiple values specified for host address"),
            ("host all all 10.0.0.0 255.0.0.0,255.0.0.0 md5", "multiple values specified for netmask"),
            ("host all all 10.0.0.0/33 md5", "invalid CIDR mask in address \"10.0.0.0/33\""),
            ("host all all ::1/129 md5", "invalid CIDR mask in address \"::1/129\""),
            ("host all all 10.0.0.0/ md5", "invalid CIDR mask in address \"10.0.0.0/\""),
            ("host all all 10.0.0.0/8x md5", "invalid CIDR mask in address \"10.0.0.0/8x\""),
            ("host all all db.example.com/24 md5", "specifying both host name and CIDR mask is invalid: \"db.example.com/24\""),
            ("host all all 10.0.0.1 255.255.x md5", "invalid IP mask \"255.255.x\": Name or service not known"),
            ("host all all 10.0.0.1 ffff:: md5", "IP address and mask do not match"),
            ("host all all 10.0.0.0/8 trusted", "invalid authentication method \"trusted\""),
            ("host all all 10.0.0.0/8 md5,trust", "multiple values specified for authentication type"),
            ("host all all 10.0.0.0/8 cert", "cert authentication is only supported on hostssl connections"),
            ("host all all 10.0.0.0/8 peer", "peer authentication is only supported on local sockets"),
            ("local all all gss", "gssapi authentication is not supported on local sockets"),
            ("host all all 10.0.0.0/8 md5 clientcert=verify-full", "clientcert can only be configured for \"hostssl\" rows"),
            ("hostssl all all 10.0.0.0/8 md5 clientcert=1", "invalid value for clientcert: \"1\""),
            ("hostssl all all 10.0.0.0/8 md5 clientcert=0", "invalid value for clientcert: \"0\""),
            ("hostssl all all 10.0.0.0/8 md5 clientcert=no-verify", "invalid value for clientcert: \"no-verify\""),
            ("hostssl all all 10.0.0.0/8 cert clientcert=verify-ca", "clientcert only accepts \"verify-full\" when using \"cert\" authentication"),
            ("host all all 10.0.0.0/8 md5 clientname=DN", "clientname can only be configured for \"hostssl\" rows"),
            ("hostssl all all 10.0.0.0/8 cert clientname=dn", "invalid value for clientname: \"dn\""),
            ("hostssl all all 10.0.0.0/8 scram-sha-256 map=certmap", "authentication option \"map\" is only valid for authentication methods ident, peer, gssapi, sspi, and cert"),
            ("hostssl all all 10.0.0.0/8 cert map", "authentication option not in name=value format: map"),
            ("hostssl all all 10.0.0.0/8 cert mapp=x", "unrecognized authentication option name: \"mapp\""),
            ("host all all 10.0.0.0/8 md5 ldapserver=x", "authentication option \"ldapserver\" is only valid for authentication methods ldap"),
            ("host all all 10.0.0.0/8 ldap ldapserver=x", "authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set"),
            ("host all all 10.0.0.0/8 ldap ldapprefix=a ldapbasedn=b", "cannot mix options for simple bind and search+bind modes"),
            ("host all all 10.0.0.0/8 ldap ldapbasedn=b ldapport=x", "invalid LDAP port number: \"x\""),
            ("host all all 10.0.0.0/8 radius radiussecrets=s", "authentication method \"radius\" requires argument \"radiusservers\" to be set"),
            (#"host all all 10.0.0.0/8 radius radiusservers="a,b" radiussecrets="s,t,u""#, "the number of RADIUS secrets (3) must be 1 or the same as the number of RADIUS servers (2)"),
            // Unquoted, the comma splits the option into two tokens.
            ("host all all 10.0.0.0/8 radius radiusservers=a,b radiussecrets=s", "authentication option not in name=value format: b"),
            ("host all all 10.0.0.0/8 md5 include_realm=0", "authentication option \"include_realm\" is only valid for authentication methods gssapi and sspi"),
            (#"host "/(" all 10.0.0.0/8 md5"#, "invalid regular expression \"(\": parentheses () not balanced"),
        ]
        for (line, message) in cases {
            XCTAssertEqual(singleError(line), message, line)
        }
    }

    func testOldClientcertValuesGetAHint() {
        let file = parse("hostssl all all 10.0.0.0/8 md5 clientcert=1")
        XCTAssertTrue(file.notes.contains { $0.message.contains("before PostgreSQL 14") })
    }

    // MARK: fields

    func testCertImpliesVerifyFullAndClientnameDefaultsToCN() throws {
        let rule = try XCTUnwrap(parse("hostssl all all 0.0.0.0/0 cert map=certmap").rules.first)
        XCTAssertEqual(rule.clientCert, "verify-full")
        XCTAssertEqual(rule.clientName, "CN")
        XCTAssertEqual(rule.map, "certmap")
        XCTAssertNil(rule.options["clientcert"], "options keep only what was written")
        let dn = try XCTUnwrap(parse("hostssl all all 0.0.0.0/0 scram-sha-256 clientcert=verify-full clientname=DN").rules.first)
        XCTAssertEqual(dn.clientCert, "verify-full")
        XCTAssertEqual(dn.clientName, "DN")
        XCTAssertNil(dn.map)
    }

    func testLaterDuplicateOptionWins() throws {
        let rule = try XCTUnwrap(parse("hostssl all all 0.0.0.0/0 cert map=a map=b").rules.first)
        XCTAssertEqual(rule.map, "b")
    }

    func testIdentOnLocalBecomesPeer() throws {
        XCTAssertEqual(parse("local all all ident").rules.first?.method, "peer")
    }

    func testAddressKeywordsAndQuotedKeywordAddress() throws {
        let file = parse("""
        host all all all md5
        host all all samehost md5
        host all all samenet md5
        host all all "all" md5
        host all all .example.com md5
        host all all 127.1/32 md5
        host all all fe80::1%2/64 md5
        """)
        XCTAssertEqual(file.rules.map(\.address), [
            .all, .sameHost, .sameNet, .hostName("all"), .hostName(".example.com"),
            .cidr(address: "127.1", prefixLength: 32), .cidr(address: "fe80::1%2", prefixLength: 64),
        ])
    }

    func testCIDRBitsAreReadLikeStrtol() throws {
        XCTAssertEqual(parse("host all all 10.0.0.0/+8 md5").rules.first?.address, .cidr(address: "10.0.0.0", prefixLength: 8))
        XCTAssertEqual(parse("host all all 10.0.0.0/08 md5").rules.first?.address, .cidr(address: "10.0.0.0", prefixLength: 8))
        XCTAssertEqual(parse("host all all 0.0.0.0/-0 md5").rules.first?.address, .cidr(address: "0.0.0.0", prefixLength: 0))
    }

    func testRegularExpressionColumnsNeedVersion16() throws {
        let file = parse(#"host "/^db\d+$" all 10.0.0.0/8 md5"#)
        XCTAssertEqual(file.rules.count, 1)
        XCTAssertEqual(file.minimumServerVersion, 16)
        XCTAssertTrue(file.notes.contains { $0.message.contains("PostgreSQL 15 compares \"/^db\\d+$\" as a literal name") })
    }

    func testRegexTheSimulatorCannotEvaluateIsFlaggedNotDropped() throws {
        let file = parse("host all /(?i)alice 10.0.0.0/8 md5")
        XCTAssertEqual(file.rules.count, 1)
        XCTAssertTrue(file.serverErrors.isEmpty)
        XCTAssertEqual(file.errors.count, 1)
        XCTAssertTrue(file.errors[0].isSimulatorLimitation)
        XCTAssertEqual(file.errors[0].line, 1)
    }

    func testTokensLongerThan255BytesAreNotedForPostgres15() throws {
        let long = String(repeating: "d", count: 300)
        let file = parse("host \(long) all 10.0.0.0/8 md5")
        XCTAssertEqual(file.rules.first?.databases.first?.value.count, 300)
        XCTAssertEqual(file.minimumServerVersion, 16)
        XCTAssertFalse(parse("host \(String(repeating: "d", count: 255)) all 10.0.0.0/8 md5").notes.contains { $0.requiredServerVersion != nil })
    }

    func testRuleFromFileRulesViewRow() throws {
        let rule = HBARule(fileRulesViewRow: 5, fileName: "/etc/postgresql/pg_hba.conf", type: "hostssl",
                           database: ["all"], userName: ["+certusers"], address: "10.0.0.0",
                           netmask: "255.0.0.0", authMethod: "cert", options: ["map=certmap", "clientcert=verify-full"])
        XCTAssertEqual(rule.address, .cidr(address: "10.0.0.0", prefixLength: 8))
        XCTAssertEqual(rule.map, "certmap")
        XCTAssertEqual(rule.clientCert, "verify-full")
        XCTAssertTrue(rule.databases[0].isAll)
        XCTAssertEqual(rule.users[0].membershipRole, "certusers")
        XCTAssertEqual(rule.text, "hostssl all +certusers 10.0.0.0/8 cert map=certmap clientcert=verify-full")
        let masked = HBARule(fileRulesViewRow: 6, fileName: "f", type: "host", database: ["db"], userName: ["u"],
                             address: "10.0.0.0", netmask: "255.0.255.0", authMethod: "md5", options: [])
        XCTAssertEqual(masked.address, .addressMask(address: "10.0.0.0", mask: "255.0.255.0"))
    }
}

/// A directory under the system temporary directory, removed when the test ends.
final class AuthFileTestDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("hba-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let target = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: target, atomically: true, encoding: .utf8)
        return target.path
    }
}
