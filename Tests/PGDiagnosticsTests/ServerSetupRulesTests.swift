@testable import PGDiagnostics
import XCTest

/// The server-side rules that need no server: postgresql.conf tokens (the real server's reading of
/// whole files is proven in ServerSetupTests with `postgres -C`), `parse_bool`, and the pg_hba.conf /
/// pg_ident.conf warnings a DBA needs (shadowed lines, open addresses, maps that cannot match).
final class ServerSetupRulesTests: XCTestCase {
    func tokens(_ line: String) -> [ServerConfigLexer.Kind] { ServerConfigLexer.tokens(Array(line.utf8)).map(\.kind) }

    func testAnUnquotedFileNameWithADotIsAQualifiedIDNotAValue() {
        XCTAssertEqual(tokens("ssl_cert_file = server.crt"), [.id, .equals, .qualifiedID])
        XCTAssertEqual(tokens("ssl_cert_file = certs/server.crt"), [.id, .equals, .unquotedString])
        XCTAssertEqual(tokens("ssl_cert_file = /abs/server.crt"), [.id, .equals, .error, .unquotedString])
        XCTAssertEqual(tokens("shared_buffers 128MB # comment"), [.id, .integer])
        XCTAssertEqual(tokens("x = 0.5e3"), [.id, .equals, .real])
        XCTAssertEqual(tokens("x = 'unterminated"), [.id, .equals, .error, .id])
    }

    func testQuotedStringsResolveEscapesAsTheServerDoes() {
        XCTAssertEqual(ServerConfigLexer.unquote("'it''s'"), "it's")
        XCTAssertEqual(ServerConfigLexer.unquote("'a\\'b'"), "a'b")
        XCTAssertEqual(ServerConfigLexer.unquote("'\\101\\tz'"), "A\tz")
    }

    func testBooleansAcceptPrefixesButNotAnAmbiguousO() {
        for (text, value) in [("on", true), ("OFF", false), ("of", false), ("t", true), ("tru", true), ("yes", true), ("n", false),
                              ("1", true), ("0", false)] {
            XCTAssertEqual(ServerSettings.parseBool(text), value, text)
        }
        for text in ["o", "", "truex", "2", "offf", "10"] { XCTAssertNil(ServerSettings.parseBool(text), text) }
    }

    func testUnknownSSLParametersAndVersionsAreRefused() {
        XCTAssertEqual(ServerSettings.check(name: "ssl_crl_dir", value: "", majorVersion: 13), .unknown)
        XCTAssertEqual(ServerSettings.check(name: "ssl_crl_dir", value: "", majorVersion: 14), .ok)
        XCTAssertEqual(ServerSettings.check(name: "ssl_ca_files", value: "x", majorVersion: 17), .unknown)
        XCTAssertEqual(ServerSettings.check(name: "my.ssl_thing", value: "x", majorVersion: 17), .ok)
        XCTAssertEqual(ServerSettings.check(name: "shared_buffers", value: "x", majorVersion: 17), .ok, "not judged")
    }

    func rules(_ text: String) -> [HBARule] { HBAFile.parse(text, path: "/d/pg_hba.conf").rules }

    func testAnEarlierWiderLineShadowsALaterOne() {
        let parsed = rules("""
            host all all 0.0.0.0/0 scram-sha-256
            hostssl app alice 10.1.0.0/16 cert
            host all all 127.0.0.1/32 trust
            hostssl all all 0.0.0.0/0 cert
            host replication all 0.0.0.0/0 trust
            """)
        XCTAssertEqual(ServerAuthInspector.shadows(parsed[0], parsed[1])?.partially, false, "host covers hostssl, all covers app/alice")
        XCTAssertEqual(ServerAuthInspector.shadows(parsed[2], parsed[3])?.partially, true, "127.0.0.1/32 is part of 0.0.0.0/0")
        XCTAssertNil(ServerAuthInspector.shadows(parsed[1], parsed[0]), "a narrower line shadows nothing")
        XCTAssertNil(ServerAuthInspector.shadows(parsed[0], parsed[4]), "all does not match replication connections")
    }

    func testCertificateLinesOpenToEveryAddressAreFlagged() throws {
        let hba = HBAFile.parse("hostssl all all 0.0.0.0/0 cert\nhostssl all all ::/0 cert\nhostssl all all 10.0.0.0/8 cert\nhost all all 0.0.0.0/0 reject\n",
                                path: "/d/pg_hba.conf")
        let findings = ServerAuthInspector(hba: hba, ident: nil, majorVersion: 15, sslEnabled: true, caLoaded: true).inspect()
        let open = findings.compactMap { finding -> Int? in
            if case .anyAddress(let rule) = finding { return rule.lineNumber }
            return nil
        }
        XCTAssertEqual(open, [1, 2])
    }

    func testMapsThatCannotMatchTheComparedNameAreFlagged() {
        let hba = HBAFile.parse("hostssl all all 0.0.0.0/0 cert clientname=DN map=dn\nhostssl all all 0.0.0.0/0 cert map=cn\n", path: "/d/pg_hba.conf")
        let ident = IdentFile.parse("""
            dn alice alice
            dn "CN=alice,O=pgconnect" alice
            dn "/O=pgconnect/CN=bob" bob
            cn "CN=carol,O=pgconnect" carol
            cn dave dave
            unused x y
            """, path: "/d/pg_ident.conf")
        let findings = ServerAuthInspector(hba: hba, ident: ident, majorVersion: 15, sslEnabled: true, caLoaded: true).inspect()
        let never = findings.compactMap { finding -> Int? in
            if case .mappingNeverMatches(let mapping, _) = finding { return mapping.lineNumber }
            return nil
        }
        XCTAssertEqual(never, [1, 3, 4])
        XCTAssertTrue(findings.contains { if case .mapUnused("unused", _) = $0 { return true } else { return false } })
    }

    func testHostsslWithSSLOffAndCertificateLinesWithoutCA() {
        let hba = HBAFile.parse("hostssl all all 127.0.0.1/32 cert\n", path: "/d/pg_hba.conf")
        let off = ServerAuthInspector(hba: hba, ident: nil, majorVersion: 15, sslEnabled: false, caLoaded: false).inspect()
        XCTAssertTrue(off.contains { if case .hostsslWithoutSSL = $0 { return true } else { return false } })
        let noCA = ServerAuthInspector(hba: hba, ident: nil, majorVersion: 15, sslEnabled: true, caLoaded: false).inspect()
        XCTAssertTrue(noCA.contains { if case .certificateLineWithoutCA = $0 { return true } else { return false } })
    }

    func testClientnameFailsOnPostgreSQL13() {
        let hba = HBAFile.parse("hostssl all all 0.0.0.0/0 cert clientname=DN\nhostssl all all 0.0.0.0/0 cert\n", path: "/d/pg_hba.conf")
        let thirteen = ServerAuthInspector.forVersion(hba, majorVersion: 13)
        XCTAssertEqual(thirteen.rules.map(\.lineNumber), [2])
        XCTAssertEqual(thirteen.serverErrors.map(\.message), ["unrecognized authentication option name: \"clientname\""])
        XCTAssertEqual(ServerAuthInspector.forVersion(hba, majorVersion: 14).rules.count, 2)
    }
}
