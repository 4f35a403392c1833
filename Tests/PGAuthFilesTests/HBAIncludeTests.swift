import Foundation
import XCTest
@testable import PGAuthFiles

/// `include`, `include_if_exists`, `include_dir` (PostgreSQL 16+) and `@file` lists, read from disk.
final class HBAIncludeTests: XCTestCase {
    func testIncludeInsertsRulesInPlaceRelativeToTheIncludingFile() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("conf.d/extra.conf", "hostssl all all 0.0.0.0/0 cert\n")
        let main = try directory.write("pg_hba.conf", "local all all peer\ninclude conf.d/extra.conf\nhost all all 0.0.0.0/0 reject\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.rules.map(\.method), ["peer", "cert", "reject"])
        XCTAssertEqual(file.rules[1].file, directory.path("conf.d/extra.conf"))
        XCTAssertEqual(file.rules[1].lineNumber, 1)
        XCTAssertEqual(file.files, [main, directory.path("conf.d/extra.conf")])
        XCTAssertEqual(file.minimumServerVersion, 16)
        XCTAssertTrue(file.notes.contains { $0.line == 2 && $0.requiredServerVersion == 16 })
    }

    func testNestedIncludeIsRelativeToItsOwnDirectory() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("a/b/inner.conf", "host all all 10.0.0.0/8 md5\n")
        try directory.write("a/outer.conf", "include b/inner.conf\n")
        let main = try directory.write("pg_hba.conf", "include a/outer.conf\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.rules.first?.file, directory.path("a/b/inner.conf"))
    }

    func testMissingIncludeIsAnErrorButIncludeIfExistsIsSkipped() throws {
        let directory = try AuthFileTestDirectory()
        let main = try directory.write("pg_hba.conf", """
        include missing.conf
        include_if_exists also-missing.conf
        local all all trust
        """)
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors, [AuthFileError(
            file: main, line: 1,
            message: "could not open file \"\(directory.path("missing.conf"))\": No such file or directory")])
        XCTAssertEqual(file.rules.count, 1)
        XCTAssertTrue(file.notes.contains {
            $0.line == 2 && $0.message == "skipping missing authentication file \"\(directory.path("also-missing.conf"))\""
        })
    }

    func testIncludeDirReadsConfFilesInByteOrder() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("rules/20-b.conf", "host all b 10.0.0.0/8 md5\n")
        try directory.write("rules/10-a.conf", "host all a 10.0.0.0/8 md5\n")
        try directory.write("rules/.hidden.conf", "host all hidden 10.0.0.0/8 md5\n")
        try directory.write("rules/notes.txt", "host all txt 10.0.0.0/8 md5\n")
        try directory.write("rules/B.conf", "host all upper 10.0.0.0/8 md5\n")
        try FileManager.default.createDirectory(atPath: directory.path("rules/sub.conf"), withIntermediateDirectories: true)
        let main = try directory.write("pg_hba.conf", "include_dir rules\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.rules.map { $0.users[0].value }, ["a", "b", "upper"])
    }

    func testIncludeDirErrors() throws {
        let directory = try AuthFileTestDirectory()
        let main = try directory.write("pg_hba.conf", "include_dir nowhere\ninclude_dir \"  \"\nlocal all all trust\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors.map(\.message), [
            "could not open directory \"\(directory.path("nowhere"))\"",
            "empty configuration directory name",
        ])
    }

    func testIncludeLoopIsAnErrorAndDoesNotHang() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("b.conf", "host all b 10.0.0.0/8 md5\ninclude pg_hba.conf\n")
        let main = try directory.write("pg_hba.conf", "include b.conf\nlocal all all trust\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors.count, 1)
        XCTAssertEqual(file.errors[0].file, directory.path("b.conf"))
        XCTAssertEqual(file.errors[0].line, 2)
        XCTAssertTrue(file.errors[0].message.hasPrefix("could not open file \"\(main)\": maximum nesting depth exceeded"))
        XCTAssertTrue(file.errors[0].message.contains("include loop: pg_hba.conf → b.conf → pg_hba.conf"), file.errors[0].message)
        XCTAssertEqual(file.rules.count, 2)
    }

    func testSelfIncludingAtFileIsAnError() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("users", "alice @users\n")
        let main = try directory.write("pg_hba.conf", "host all @users 10.0.0.0/8 md5\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.rules.count, 0)
        XCTAssertTrue(file.errors.first?.message.contains("maximum nesting depth exceeded") ?? false)
    }

    func testNestingDeeperThanTenLevelsIsAnError() throws {
        let directory = try AuthFileTestDirectory()
        for level in 1...11 {
            try directory.write("level\(level).conf", "include level\(level + 1).conf\n")
        }
        try directory.write("level12.conf", "local all all trust\n")
        let main = try directory.write("pg_hba.conf", "include level1.conf\n")
        let file = HBAFile.load(path: main)
        // pg_hba.conf is depth 0; level10.conf is depth 10 (allowed); opening level11.conf (depth 11) fails.
        XCTAssertEqual(file.serverErrors.first?.message,
                       "could not open file \"\(directory.path("level11.conf"))\": maximum nesting depth exceeded")
        XCTAssertEqual(file.serverErrors.first?.file, directory.path("level10.conf"))
    }

    func testAtFileListsAreSplicedIntoTheField() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("lists/admins", "alice,bob\n# comment\ncarol @more\n")
        try directory.write("lists/more", "dave\n")
        let main = try directory.write("pg_hba.conf", #"""
        host all @lists/admins,erin 10.0.0.0/8 md5
        host all "@lists/admins" 10.0.0.0/8 md5
        host all @ 10.0.0.0/8 md5
        host all @"lists/admins" 10.0.0.0/8 md5
        """#)
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.rules[0].users.map(\.value), ["alice", "bob", "carol", "dave", "erin"])
        XCTAssertEqual(file.rules[1].users, [HBAToken(value: "@lists/admins", quoted: true)], "a quoted @ is a name")
        XCTAssertEqual(file.rules[2].users.map(\.value), ["@"], "a lone @ is a name")
        XCTAssertEqual(file.rules[3].users.map(\.value), ["alice", "bob", "carol", "dave"], "@\"name\" is a file")
        XCTAssertTrue(file.files.contains(directory.path("lists/more")))
    }

    func testMissingAtFileIsAnErrorOnTheLine() throws {
        let directory = try AuthFileTestDirectory()
        let main = try directory.write("pg_hba.conf", "host all @nobody 10.0.0.0/8 md5\nlocal all all trust\n")
        let file = HBAFile.load(path: main)
        XCTAssertEqual(file.errors, [AuthFileError(
            file: main, line: 1, message: "could not open file \"\(directory.path("nobody"))\": No such file or directory")])
    }

    func testMissingTopLevelFile() {
        let file = HBAFile.load(path: "/nonexistent/dir/pg_hba.conf")
        XCTAssertEqual(file.errors, [AuthFileError(
            file: "/nonexistent/dir/pg_hba.conf", line: 0,
            message: "could not open file \"/nonexistent/dir/pg_hba.conf\": No such file or directory")])
    }

    func testFIFOIsRefusedWithoutBlocking() throws {
        let directory = try AuthFileTestDirectory()
        let fifo = directory.path("pg_hba.conf")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let started = Date()
        let file = HBAFile.load(path: fifo)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertTrue(file.errors.first?.message.contains("not a regular file") ?? false, "\(file.errors)")

        let main = try directory.write("main.conf", "include pg_hba.conf\nlocal all all trust\n")
        let including = HBAFile.load(path: main)
        XCTAssertTrue(including.errors.first?.message.contains("not a regular file") ?? false)
    }

    func testDirectoryAndOversizedFilesAreRefused() throws {
        let directory = try AuthFileTestDirectory()
        XCTAssertEqual(HBAFile.load(path: directory.url.path).errors.first?.message,
                       "could not read file \"\(directory.url.path)\": Is a directory")
        let big = directory.path("big.conf")
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: nil))
        XCTAssertEqual(truncate(big, off_t(10 * 1024 * 1024 + 1)), 0)
        XCTAssertTrue(HBAFile.load(path: big).errors.first?.message.contains("larger than 10 MB") ?? false)
    }

    func testIdentFileFollowsIncludesToo() throws {
        let directory = try AuthFileTestDirectory()
        try directory.write("maps/certs.conf", "certmap alice alice\n")
        let main = try directory.write("pg_ident.conf", "include maps/certs.conf\nomicron bryanh bryanh\n")
        let file = IdentFile.load(path: main)
        XCTAssertEqual(file.errors, [])
        XCTAssertEqual(file.mappings.map(\.mapName), ["certmap", "omicron"])
        XCTAssertEqual(file.minimumServerVersion, 16)
    }
}
