import XCTest
@testable import PGConnect

final class ConnectionOptionsTests: XCTestCase {
    func testParsesKeywordValueStringWithLibpq() throws {
        let options = try ConnectionOptions(conninfo: "host=a,b port=5432,5433 user=alice sslmode=verify-full sslcert='/p q/c.crt' keepalives=0")
        XCTAssertEqual(options.host, ["a", "b"])
        XCTAssertEqual(options.port, [5432, 5433])
        XCTAssertEqual(options.user, "alice")
        XCTAssertEqual(options.sslmode, .verifyFull)
        XCTAssertEqual(options.sslcert, "/p q/c.crt")
        XCTAssertEqual(options.keepalives, false)
    }

    func testParsesURIWithLibpq() throws {
        let options = try ConnectionOptions(conninfo: "postgresql://bob@[::1]:6000/db%20name?sslmode=require&sslkey=%2Fk")
        XCTAssertEqual(options.host, ["::1"])
        XCTAssertEqual(options.port, [6000])
        XCTAssertEqual(options.dbname, "db name")
        XCTAssertEqual(options.sslmode, .require)
        XCTAssertEqual(options.sslkey, "/k")
    }

    func testParseErrorCarriesLibpqMessage() {
        XCTAssertThrowsError(try ConnectionOptions(conninfo: "sslcert")) { error in
            let error = error as! ConnectionError
            XCTAssertEqual(error.code, .invalidConninfo)
            XCTAssertEqual(error.message, "missing \"=\" after \"sslcert\" in connection info string")
            XCTAssertEqual(error.phase, .options)
        }
        XCTAssertThrowsError(try ConnectionOptions(conninfo: "sslcert='unterminated")) { error in
            XCTAssertEqual((error as! ConnectionError).message, "unterminated quoted string in connection info string")
        }
        XCTAssertThrowsError(try ConnectionOptions(conninfo: "sslcrt=/x")) { error in
            XCTAssertEqual((error as! ConnectionError).message, "invalid connection option \"sslcrt\"")
        }
    }

    func testRejectsUnknownKeywordNamingItAndTheNearestKnownOne() {
        let options = ConnectionOptions(["sslcrt": "/x"])
        XCTAssertThrowsError(try options.conninfoString()) { error in
            let error = error as! ConnectionError
            XCTAssertEqual(error.code, .unknownKeyword)
            XCTAssertTrue(error.message.contains("\"sslcrt\""), error.message)
            XCTAssertTrue(error.message.contains("\"sslcert\""), error.message)
        }
    }

    func testRejectsNULByteNamingTheKeyword() {
        XCTAssertThrowsError(try ConnectionOptions(["sslkey": "a\u{0}b"]).conninfoString()) { error in
            let error = error as! ConnectionError
            XCTAssertEqual(error.code, .invalidValue)
            XCTAssertTrue(error.message.contains("\"sslkey\""))
        }
        XCTAssertThrowsError(try ConnectionOptions(conninfo: "user=a\u{0}b"))
    }

    func testRedactedRenderingsHideEverySecret() throws {
        let options = ConnectionOptions(["user": "alice", "password": "hunter2", "sslpassword": "s3cret pass", "host": "h"])
        for text in [options.redactedConninfo, options.redactedURI, options.description, "\(options)", options.redacted.values.description] {
            XCTAssertFalse(text.contains("hunter2"), text)
            XCTAssertFalse(text.contains("s3cret"), text)
        }
        XCTAssertTrue(options.redactedConninfo.contains("password=***"))
        XCTAssertTrue(try options.conninfoString().contains("hunter2"))
    }

    func testKeywordsRenderInLibpqOrder() throws {
        let options = ConnectionOptions(["sslmode": "require", "user": "u", "host": "h"])
        XCTAssertEqual(options.keywords, ["user", "host", "sslmode"])
    }

    func testEffectiveOptionsApplyEnvironmentAndDefaults() {
        setenv("PGSSLMODE", "verify-ca", 1)
        setenv("PGAPPNAME", "from-env", 1)
        defer { unsetenv("PGSSLMODE"); unsetenv("PGAPPNAME") }
        var options = ConnectionOptions()
        options.applicationName = "explicit"
        let effective = options.effective()
        XCTAssertEqual(effective.sslmode, .verifyCA, "PGSSLMODE fills an unset sslmode")
        XCTAssertEqual(effective.applicationName, "explicit", "an explicit value beats the environment")
        XCTAssertEqual(effective["ssl_min_protocol_version"], "TLSv1.2", "libpq's compiled default")
    }

    func testTypedFieldsWriteLibpqKeywords() throws {
        var options = ConnectionOptions()
        options.sslMinProtocolVersion = .tls1_3
        options.sslsni = false
        options.connectTimeout = 5
        options.targetSessionAttrs = "read-write"
        XCTAssertEqual(try options.conninfoString(), "connect_timeout=5 sslsni=0 ssl_min_protocol_version=TLSv1.3 target_session_attrs=read-write")
        XCTAssertEqual(SSLMode.allCases.count, 6)
    }

    func testAnyKeywordTheLinkedLibpqKnowsPassesThrough() throws {
        XCTAssertTrue(ConnectionOptions.isKnownKeyword("gssencmode"))
        var options = ConnectionOptions()
        options["gssencmode"] = "disable"
        XCTAssertEqual(try options.conninfoString(), "gssencmode=disable")
    }
}
