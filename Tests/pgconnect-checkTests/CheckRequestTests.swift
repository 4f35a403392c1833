import ArgumentParser
import XCTest
@testable import pgconnect_check

/// `pgconnect-check CONNINFO` alone skips ArgumentParser at start-up; it must mean what
/// ArgumentParser makes of the same command line.
final class CheckRequestTests: XCTestCase {
    func testASoleConninfoReadsAsArgumentParserReadsIt() throws {
        let lines = ["host=db.internal user=app dbname=app sslmode=verify-full sslcert=app.crt sslkey=app.key",
                     "postgresql://app@db.internal/app?sslmode=verify-full", "service=production", "x", "checks", "helpful"]
        for line in lines {
            let fast = try XCTUnwrap(CheckRequest(soleConninfo: [line]), line)
            let parsed = try XCTUnwrap(try Tool.parseAsRoot([line]) as? CheckCommand, line)
            XCTAssertEqual(fast, parsed.request, line)
        }
    }

    func testEveryOtherCommandLineGoesThroughArgumentParser() {
        let lines: [[String]] = [[], [""], ["--help"], ["-?"], ["--version"], ["check"], ["explain"], ["inspect"], ["help"],
                                 ["-v", "host=x"], ["host=x", "--format", "json"], ["host=x", "host=y"], ["--targets", "t.txt"]]
        for arguments in lines {
            XCTAssertNil(CheckRequest(soleConninfo: arguments), "\(arguments)")
        }
    }

    func testTheCommandWordsAreTheSubcommandsAndHelp() {
        let names = Tool.configuration.subcommands.map { $0.configuration.commandName ?? "" }
        XCTAssertEqual(CheckRequest.commandWords, Set(names + ["help"]))
    }

    func testTheCommandsDefaultsAreTheRequestsDefaults() throws {
        let parsed = try XCTUnwrap(try Tool.parseAsRoot([]) as? CheckCommand)
        XCTAssertEqual(parsed.request, CheckRequest())
    }
}
