import XCTest
@testable import PGAuthFiles

/// `check_hba()` + `ClientAuthentication()`/`CheckCertAuth()` + `check_usermap()`, simulated.
final class HBASimulatorTests: XCTestCase {
    private func simulator(_ hba: String, ident: String? = nil) -> HBASimulator {
        let hbaFile = HBAFile.parse(hba, path: "/srv/pg/pg_hba.conf")
        XCTAssertEqual(hbaFile.serverErrors, [], "test pg_hba.conf should parse")
        let identFile = ident.map { IdentFile.parse($0, path: "/srv/pg/pg_ident.conf") }
        XCTAssertEqual(identFile?.serverErrors ?? [], [], "test pg_ident.conf should parse")
        return HBASimulator(hba: hbaFile, ident: identFile)
    }

    private func request(user: String = "alice", database: String = "app", address: String = "127.0.0.1",
                         ssl: Bool = true, cn: String? = nil, dn: String? = nil,
                         memberships: [String]? = nil) -> HBASimulator.Request {
        HBASimulator.Request(ssl: ssl, clientAddress: address, database: database, user: user,
                             roleMemberships: memberships, certificateCommonName: cn, certificateDN: dn)
    }

    // MARK: line selection

    func testFirstMatchingLineWins() {
        let sim = simulator("""
        host all all 0.0.0.0/0 scram-sha-256
        hostssl all all 127.0.0.1/32 cert
        """)
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .passwordRequired(method: "scram-sha-256"))
        XCTAssertEqual(outcome.rule?.lineNumber, 1)
        XCTAssertEqual(outcome.steps.first, "line 1 (host all all 0.0.0.0/0 scram-sha-256): matches")
    }

    func testNoMatchingLineIsNoEntry() {
        let sim = simulator("hostssl sales all 10.0.0.0/8 cert\nlocal all all peer\n")
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .noEntry)
        XCTAssertNil(outcome.rule)
        XCTAssertEqual(outcome.steps.last, "no line matched: the server reports no pg_hba.conf entry for host \"127.0.0.1\", user \"alice\", database \"app\", SSL encryption")
        XCTAssertEqual(outcome.steps[0], "line 1 (hostssl sales all 10.0.0.0/8 cert): skipped — the client address 127.0.0.1 is not in 10.0.0.0/8")
    }

    func testHostsslRulesAreSkippedWithoutSSL() {
        let sim = simulator("hostssl all all 0.0.0.0/0 cert\nhostnossl all all 0.0.0.0/0 reject\n")
        let plain = sim.simulate(request(ssl: false))
        XCTAssertEqual(plain.decision, .reject)
        XCTAssertEqual(plain.steps[0], "line 1 (hostssl all all 0.0.0.0/0 cert): skipped — hostssl needs SSL; the connection does not use SSL")
        let encrypted = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(encrypted.decision, .accepted(method: "cert"))
    }

    func testHostnosslIsSkippedWithSSL() {
        let sim = simulator("hostnossl all all 0.0.0.0/0 trust\n")
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .noEntry)
        XCTAssertEqual(outcome.steps[0], "line 1 (hostnossl all all 0.0.0.0/0 trust): skipped — the connection uses SSL")
    }

    func testLocalAndGSSLinesNeedTheirTransport() {
        let sim = simulator("local all all trust\nhostgssenc all all 0.0.0.0/0 gss\nhost all all 0.0.0.0/0 md5\n")
        XCTAssertEqual(sim.simulate(request()).rule?.lineNumber, 3)
        let local = HBASimulator.Request(connectionType: .local, ssl: false, database: "app", user: "alice")
        XCTAssertEqual(sim.simulate(local).decision, .accepted(method: "trust"))
    }

    func testRejectLineRejects() {
        let sim = simulator("host all all 127.0.0.1/32 reject\nhost all all 0.0.0.0/0 trust\n")
        XCTAssertEqual(sim.simulate(request()).decision, .reject)
    }

    func testReplicationKeywordNeverMatchesANormalDatabase() {
        let sim = simulator("host replication all 0.0.0.0/0 trust\n")
        XCTAssertEqual(sim.simulate(request(database: "replication")).decision, .noEntry)
        var walsender = request()
        walsender.physicalReplication = true
        XCTAssertEqual(sim.simulate(walsender).decision, .accepted(method: "trust"))
        let normal = simulator("host all all 0.0.0.0/0 trust\n")
        XCTAssertEqual(normal.simulate(walsender).decision, .noEntry, "walsenders match only the replication keyword")
    }

    func testSameuserAndQuotedAll() {
        let sim = simulator("host sameuser all 0.0.0.0/0 trust\nhost \"all\" all 0.0.0.0/0 md5\n")
        XCTAssertEqual(sim.simulate(request(database: "alice")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "app")).decision, .noEntry)
        XCTAssertEqual(sim.simulate(request(database: "all")).decision, .passwordRequired(method: "md5"))
    }

    func testGroupMembershipKnownAndUnknown() {
        let sim = simulator("host all +certusers 0.0.0.0/0 trust\nhost all all 0.0.0.0/0 md5\n")
        XCTAssertEqual(sim.simulate(request(memberships: ["certusers"])).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(memberships: ["other"])).decision, .passwordRequired(method: "md5"))
        XCTAssertEqual(sim.simulate(request(user: "certusers", memberships: [])).decision, .accepted(method: "trust"),
                       "a role is a member of itself")
        let unknown = sim.simulate(request(memberships: nil))
        guard case .undecidable(let reason) = unknown.decision else { return XCTFail("\(unknown.decision)") }
        XCTAssertTrue(reason.contains("+certusers"), reason)
        XCTAssertEqual(unknown.rule?.lineNumber, 1)
        XCTAssertTrue(unknown.steps.contains("  if it matches: accepted by trust"), "\(unknown.steps)")
        XCTAssertTrue(unknown.steps.contains { $0.hasPrefix("  if it does not: the server asks for a password (md5)") })
    }

    func testSameroleUsesMemberships() {
        let sim = simulator("host samerole all 0.0.0.0/0 trust\n")
        XCTAssertEqual(sim.simulate(request(database: "sales", memberships: ["sales"])).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "sales", memberships: [])).decision, .noEntry)
    }

    func testUndecidableLineWithTheSameOutcomeEitherWay() {
        let sim = simulator("host all all samenet reject\nhost all all 0.0.0.0/0 reject\n")
        let outcome = sim.simulate(request(address: "192.0.2.7"))
        XCTAssertEqual(outcome.decision, .reject)
        XCTAssertNil(outcome.rule)
        XCTAssertEqual(outcome.steps.last, "either way: rejected by a reject line")
    }

    func testDatabaseAndUserRegexColumns() {
        let sim = simulator(#"host "/^db\d{2,4}$" /^.*helpdesk$ 0.0.0.0/0 trust"#)
        XCTAssertEqual(sim.simulate(request(user: "it-helpdesk", database: "db123")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(user: "it-helpdesk", database: "db1")).decision, .noEntry)
        XCTAssertEqual(sim.simulate(request(user: "helpdesk2", database: "db12")).decision, .noEntry)
    }

    // MARK: addresses

    func testIPv4CIDREdges() {
        let sim = simulator("""
        host a all 192.168.1.7/32 trust
        host b all 10.1.0.0/16 trust
        host c all 0.0.0.0/0 trust
        """)
        XCTAssertEqual(sim.simulate(request(database: "a", address: "192.168.1.7")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "a", address: "192.168.1.8")).decision, .noEntry)
        XCTAssertEqual(sim.simulate(request(database: "b", address: "10.1.255.255")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "b", address: "10.2.0.0")).decision, .noEntry)
        XCTAssertEqual(sim.simulate(request(database: "c", address: "203.0.113.9")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "c", address: "::1")).decision, .noEntry, "0.0.0.0/0 is IPv4 only")
    }

    func testLegacyIPv4FormsAreAddresses() {
        // getaddrinfo(AI_NUMERICHOST) on glibc accepts every inet_aton() form.
        let sim = simulator("host a all 127.1/32 trust\nhost b all 0x7f.0.0.2/32 trust\nhost c all 010.0.0.1/32 trust\n")
        XCTAssertEqual(sim.simulate(request(database: "a", address: "127.0.0.1")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "b", address: "127.0.0.2")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "c", address: "8.0.0.1")).decision, .accepted(method: "trust"), "a leading 0 is octal")
    }

    func testHostBitsInTheRuleAddressDoNotMatter() {
        let sim = simulator("host all all 10.1.2.3/8 trust\n")
        XCTAssertEqual(sim.simulate(request(address: "10.200.0.1")).decision, .accepted(method: "trust"))
    }

    func testIPv6CIDREdges() {
        let sim = simulator("""
        host a all ::1/128 trust
        host b all 2001:db8::/32 trust
        host c all ::/0 trust
        """)
        XCTAssertEqual(sim.simulate(request(database: "a", address: "::1")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "a", address: "::2")).decision, .noEntry)
        XCTAssertEqual(sim.simulate(request(database: "b", address: "2001:db8:ffff::1")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "b", address: "2001:db9::1")).decision, .noEntry)
        XCTAssertEqual(sim.simulate(request(database: "c", address: "fe80::1")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "c", address: "127.0.0.1")).decision, .noEntry, "::/0 is IPv6 only")
    }

    func testIPv4MappedClientDoesNotMatchIPv4Rules() {
        let sim = simulator("host all all 127.0.0.1/32 trust\n")
        let outcome = sim.simulate(request(address: "::ffff:127.0.0.1"))
        XCTAssertEqual(outcome.decision, .noEntry)
        XCTAssertTrue(outcome.steps[0].contains("IPv4-mapped"), outcome.steps[0])
    }

    func testAddressPlusMask() {
        let sim = simulator("""
        host a all 127.0.0.1 255.255.255.255 trust
        host b all 10.0.0.0 255.0.255.0 trust
        """)
        XCTAssertEqual(sim.simulate(request(database: "a", address: "127.0.0.1")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "a", address: "127.0.0.2")).decision, .noEntry)
        // A non-contiguous mask is applied byte by byte.
        XCTAssertEqual(sim.simulate(request(database: "b", address: "10.77.0.99")).decision, .accepted(method: "trust"))
        XCTAssertEqual(sim.simulate(request(database: "b", address: "10.77.1.99")).decision, .noEntry)
    }

    func testHostNamesNeedTheClientsNameOtherwiseUndecidable() {
        let sim = simulator("host all all .example.com trust\nhost all all 0.0.0.0/0 md5\n")
        if case .undecidable = sim.simulate(request(address: "192.0.2.1")).decision {} else { XCTFail("expected undecidable") }
        var named = request(address: "192.0.2.1")
        named.clientHostName = "DB1.Example.COM"
        XCTAssertEqual(sim.simulate(named).decision, .accepted(method: "trust"))
        named.clientHostName = "example.com"
        XCTAssertEqual(sim.simulate(named).decision, .passwordRequired(method: "md5"), ".example.com needs a dot before it")
    }

    func testSamehostIsDecidableOnlyForLoopback() {
        let sim = simulator("host all all samehost trust\nhost all all 0.0.0.0/0 md5\n")
        XCTAssertEqual(sim.simulate(request(address: "127.0.0.1")).decision, .accepted(method: "trust"))
        if case .undecidable = sim.simulate(request(address: "192.0.2.1")).decision {} else { XCTFail("expected undecidable") }
    }

    // MARK: cert method and maps

    func testCertWithoutMapNeedsCNEqualToTheUser() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert\n")
        let outcome = sim.simulate(request(cn: "bob"))
        XCTAssertEqual(outcome.decision, .certificateNameMismatch(identity: "bob", user: "alice"))
        XCTAssertEqual(outcome.identity, "bob")
        XCTAssertTrue(outcome.steps.contains { $0.contains("provided user name (alice) and authenticated user name (bob) do not match") })
        XCTAssertEqual(outcome.steps.last, "the client sees \"certificate authentication failed for user \"alice\"\"")
        XCTAssertEqual(sim.simulate(request(cn: "alice")).decision, .accepted(method: "cert"))
    }

    func testCertNameComparisonIsCaseSensitive() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert\n")
        XCTAssertEqual(sim.simulate(request(cn: "Alice")).decision, .certificateNameMismatch(identity: "Alice", user: "alice"))
    }

    func testCertWithoutACertificateIsClientCertificateRequired() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert\n")
        let outcome = sim.simulate(request())
        XCTAssertEqual(outcome.decision, .clientCertificateRequired)
        XCTAssertTrue(outcome.steps.last?.contains("connection requires a valid client certificate") ?? false)
    }

    func testCertificateWithoutCNFails() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert\n")
        let outcome = sim.simulate(HBASimulator.Request(database: "app", user: "alice", certificateDN: "O=PGDG",
                                                        clientCertificatePresented: true))
        XCTAssertEqual(outcome.decision, .certificateNameMismatch(identity: "", user: "alice"))
        XCTAssertTrue(outcome.steps.contains { $0.contains("client certificate contains no user name") })
    }

    func testExactMap() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=certmap\n", ident: """
        certmap bob   bob
        certmap alice.smith alice
        """)
        let outcome = sim.simulate(request(cn: "alice.smith"))
        XCTAssertEqual(outcome.decision, .accepted(method: "cert"))
        XCTAssertEqual(outcome.mapping?.lineNumber, 2)
        XCTAssertTrue(outcome.steps.contains("pg_ident.conf line 1 (certmap bob bob): skipped — system user \"bob\" ≠ \"alice.smith\" (exact, case-sensitive)"), "\(outcome.steps)")
    }

    func testRegexMapSubstitutesTheLocalPart() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=certmap\n",
                            ident: #"certmap /^(.*)@example\.com$ \1"#)
        let outcome = sim.simulate(request(cn: "alice@example.com"))
        XCTAssertEqual(outcome.decision, .accepted(method: "cert"))
        XCTAssertEqual(outcome.identity, "alice@example.com")
        XCTAssertTrue(outcome.steps.contains(#"pg_ident.conf line 1 (certmap /^(.*)@example\.com$ \1): "alice@example.com" → "alice""#), "\(outcome.steps)")
        XCTAssertEqual(sim.simulate(request(user: "bob", cn: "alice@example.com")).decision,
                       .identMapNoMatch(map: "certmap", identity: "alice@example.com", user: "bob"))
    }

    func testRegexMapIsUnanchoredWithoutCaret() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=certmap\n", ident: "certmap /alice alice\n")
        XCTAssertEqual(sim.simulate(request(cn: "malice-ops")).decision, .accepted(method: "cert"),
                       "an unanchored pattern matches anywhere: a classic over-broad map")
    }

    func testBackreferenceWithoutAGroupFailsTheMapping() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=m\n", ident: #"m /^alice$ \1"#)
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .identMapNoMatch(map: "m", identity: "alice", user: "alice"))
        XCTAssertTrue(outcome.steps.contains { $0.contains("has no subexpressions as requested by backreference") })
    }

    func testMapWithNoMatchingLine() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=certmap\n", ident: "certmap bob bob\nother alice alice\n")
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .identMapNoMatch(map: "certmap", identity: "alice", user: "alice"))
        XCTAssertTrue(outcome.steps.contains { $0.contains("no match in usermap \"certmap\" for user \"alice\" authenticated as \"alice\"") })
        XCTAssertEqual(outcome.steps.last, "the client sees \"certificate authentication failed for user \"alice\"\"")
    }

    func testMappedToAnotherUserIsNoMatch() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=certmap\n", ident: "certmap alice bob\n")
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .identMapNoMatch(map: "certmap", identity: "alice", user: "alice"))
        XCTAssertTrue(outcome.steps.contains { $0.contains("but maps to bob, not the requested user \"alice\"") })
    }

    func testUnknownMapNamesSimilarMaps() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=CertMap\n", ident: "certmap alice alice\n")
        let outcome = sim.simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.decision, .unknownMap(map: "CertMap"))
        XCTAssertTrue(outcome.steps.contains { $0.contains("map names are case-sensitive") })
    }

    func testMapWithoutIdentFileIsUndecidable() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=certmap\n")
        if case .undecidable = sim.simulate(request(cn: "alice")).decision {} else { XCTFail("expected undecidable") }
    }

    func testDNMapWithClientnameDNAndAQuotedDN() {
        let dn = "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG"
        let sim = simulator("hostssl all all 127.0.0.1/32 cert clientname=DN map=dn\n", ident: """
        dn "\(dn)" ssltestuser
        dn "/^.*OU=Testing,.*$" testuser
        """)
        let exact = sim.simulate(request(user: "ssltestuser", cn: "ssltestuser-dn", dn: dn))
        XCTAssertEqual(exact.decision, .accepted(method: "cert"))
        XCTAssertEqual(exact.identity, dn)
        let regex = sim.simulate(request(user: "testuser", cn: "ssltestuser-dn", dn: dn))
        XCTAssertEqual(regex.decision, .accepted(method: "cert"))
        XCTAssertEqual(regex.mapping?.lineNumber, 2)
        let unknownDN = sim.simulate(request(user: "testuser", cn: "ssltestuser-dn"))
        if case .undecidable = unknownDN.decision {} else { XCTFail("a DN rule needs the DN") }
    }

    func testPostgres16DatabaseUserKeywordsInMaps() {
        let sim = simulator("hostssl all all 127.0.0.1/32 cert map=m\n", ident: """
        m admin-cert all
        m ops-cert +ops
        m "/^svc-" "/^svc_"
        """)
        XCTAssertEqual(sim.simulate(request(user: "anyone", cn: "admin-cert")).decision, .accepted(method: "cert"))
        XCTAssertEqual(sim.simulate(request(user: "carol", cn: "ops-cert", memberships: ["ops"])).decision, .accepted(method: "cert"))
        XCTAssertEqual(sim.simulate(request(user: "carol", cn: "ops-cert", memberships: [])).decision,
                       .identMapNoMatch(map: "m", identity: "ops-cert", user: "carol"))
        if case .undecidable = sim.simulate(request(user: "carol", cn: "ops-cert")).decision {} else { XCTFail("unknown memberships") }
        XCTAssertEqual(sim.simulate(request(user: "svc_backup", cn: "svc-backup")).decision, .accepted(method: "cert"))
    }

    func testRegexWithCaptureDivergenceIsUndecidable() {
        let hba = HBAFile.parse("hostssl all all 127.0.0.1/32 cert map=m\n")
        let ident = IdentFile.parse(#"m /^(a|ab)(b?)$ \1"#)
        let outcome = HBASimulator(hba: hba, ident: ident).simulate(request(user: "ab", cn: "ab"))
        guard case .undecidable(let reason) = outcome.decision else { return XCTFail("\(outcome.decision)") }
        XCTAssertTrue(reason.contains("alternation"), reason)
    }

    // MARK: clientcert on other methods

    func testClientcertVerifyFullOnScramWithCNMismatch() {
        let sim = simulator("hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n")
        let mismatch = sim.simulate(request(cn: "bob"))
        XCTAssertEqual(mismatch.decision, .certificateNameMismatch(identity: "bob", user: "alice"))
        XCTAssertTrue(mismatch.steps.last?.contains("after the password exchange (even with the right password) \"password authentication failed for user \"alice\"\"") ?? false,
                      "\(mismatch.steps)")
        XCTAssertTrue(mismatch.steps.last?.contains("CN mismatch") ?? false)
        XCTAssertEqual(sim.simulate(request(cn: "alice")).decision, .passwordRequired(method: "scram-sha-256"))
        XCTAssertEqual(sim.simulate(request()).decision, .clientCertificateRequired)
    }

    func testClientcertVerifyFullOnTrustWithCNMismatch() {
        let sim = simulator("hostssl all all 127.0.0.1/32 trust clientcert=verify-full clientname=DN\n")
        let outcome = sim.simulate(request(cn: "alice", dn: "CN=alice,O=pgconnect"))
        XCTAssertEqual(outcome.decision, .certificateNameMismatch(identity: "CN=alice,O=pgconnect", user: "alice"))
        XCTAssertTrue(outcome.steps.last?.contains("DN mismatch") ?? false)
        XCTAssertTrue(outcome.steps.last?.contains("\"\"trust\" authentication failed for user \"alice\"\"") ?? false, "\(outcome.steps)")
        let ok = simulator("hostssl all all 127.0.0.1/32 trust clientcert=verify-full\n").simulate(request(cn: "alice"))
        XCTAssertEqual(ok.decision, .accepted(method: "trust"))
    }

    func testVerifyCAOnlyNeedsACertificate() {
        let sim = simulator("hostssl all all 127.0.0.1/32 md5 clientcert=verify-ca\n")
        XCTAssertEqual(sim.simulate(request()).decision, .clientCertificateRequired)
        XCTAssertEqual(sim.simulate(request(cn: "somebody-else")).decision, .passwordRequired(method: "md5"))
    }

    func testClientcertOnARejectLineIsCheckedFirst() {
        let sim = simulator("hostssl all all 127.0.0.1/32 reject clientcert=verify-ca\n")
        XCTAssertEqual(sim.simulate(request()).decision, .clientCertificateRequired)
        XCTAssertEqual(sim.simulate(request(cn: "alice")).decision, .reject)
    }

    // MARK: inputs from the server's views and certificates

    func testRulesFromViewRows() {
        let rules = [
            HBARule(fileRulesViewRow: 1, fileName: "/etc/pg_hba.conf", type: "local", database: ["all"], userName: ["all"],
                    address: nil, netmask: nil, authMethod: "peer", options: []),
            HBARule(fileRulesViewRow: 2, fileName: "/etc/pg_hba.conf", type: "hostssl", database: ["all"], userName: ["all"],
                    address: "127.0.0.1", netmask: "255.255.255.255", authMethod: "cert",
                    options: ["map=certmap", "clientcert=verify-full"]),
        ]
        let mappings = [IdentMapping(fileMappingsViewRow: 1, fileName: "/etc/pg_ident.conf", mapName: "certmap",
                                     systemName: #"/^(.*)@example\.com$"#, databaseUserName: #"\1"#)]
        let outcome = HBASimulator(rules: rules, mappings: mappings).simulate(request(cn: "alice@example.com"))
        XCTAssertEqual(outcome.decision, .accepted(method: "cert"))
        XCTAssertEqual(outcome.rule?.lineNumber, 2)
    }

    func testFileErrorsAreMentionedInTheTrace() {
        let hba = HBAFile.parse("hostsl all all 0.0.0.0/0 cert\nhostssl all all 0.0.0.0/0 cert\n")
        let outcome = HBASimulator(hba: hba, ident: nil).simulate(request(cn: "alice"))
        XCTAssertTrue(outcome.steps[0].hasPrefix("note: pg_hba.conf has 1 error(s)"))
        XCTAssertEqual(outcome.decision, .accepted(method: "cert"))
    }

    func testIncludedRulesAreLabelledWithTheirFile() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("extra.conf", "hostssl all all 0.0.0.0/0 cert\n")
        let main = try directory.write("pg_hba.conf", "local all all peer\ninclude extra.conf\n")
        let outcome = HBASimulator(hba: HBAFile.load(path: main), ident: nil).simulate(request(cn: "alice"))
        XCTAssertEqual(outcome.steps[1], "extra.conf line 1 (hostssl all all 0.0.0.0/0 cert): matches")
    }
}
