import Foundation
import XCTest

/// Failures on a real network, each met by `pgconnect-check` and by `psql` with the same conninfo
/// from the same place: libpq (through psql) is the truth for the message and the time it takes,
/// and the diagnosis must say what happened on the wire.
///
/// scripts/netns.sh builds the network: a server namespace (198.18.0.1, a real PostgreSQL with
/// its own certificates, a firewall, fake servers) and a client namespace (198.18.0.2) joined by
/// a veth pair, nothing else. Both programs run in the client namespace. The namespaces, the
/// server and its directory are removed when this process ends, however it ends (netns.sh hold
/// watches our pipe). Skipped where namespaces cannot be made (not root, no nftables, …).
final class NetworkNamespaceTests: XCTestCase {
    /// How far pgconnect-check's wall time may be from psql's.
    static let tolerance = 0.7
    /// The conninfo's connect_timeout, in seconds.
    static let connectTimeout = 2

    var network: NamespaceNetwork!

    override func setUp() async throws {
        switch NamespaceNetwork.shared {
        case .ready(let network): self.network = network
        case .unavailable(let reason): throw XCTSkip("needs network namespaces (scripts/netns.sh check): \(reason)")
        case .failed(let reason): XCTFail("scripts/netns.sh could not build the test network: \(reason)"); throw XCTSkip(reason)
        }
        try network.firewall("open")
    }

    override class func tearDown() {
        if case .ready(let network) = NamespaceNetwork.shared { network.remove() }
        super.tearDown()
    }

    // MARK: - Scenarios

    /// 1. A firewall that silently drops the SYNs: libpq gives up after connect_timeout.
    func testDroppedSYNsTimeOutAfterConnectTimeoutLikeLibpq() throws {
        try network.firewall("drop")
        defer { try? network.firewall("open") }
        let pair = try compare(network.conninfo())
        assertTimedOut(pair.psql)
        assertSame(pair, code: "timeout", layer: "network", status: 2)
    }

    /// 2. A firewall that rejects: a TCP RST and an ICMP port unreachable are both "Connection
    /// refused"; an ICMP administratively prohibited is "No route to host", for which there is
    /// no diagnosis code (so `unknown`, in the network layer).
    func testRejectedSYNsFailAtOnceWithLibpqsMessage() throws {
        defer { try? network.firewall("open") }
        for (mode, errno, code) in [("reset", "Connection refused", "connection-refused"),
                                    ("icmp-port", "Connection refused", "connection-refused"),
                                    ("icmp-admin", "No route to host", "unknown")] {
            try network.firewall(mode)
            let pair = try compare(network.conninfo())
            XCTAssertTrue(pair.psql.message.contains("failed: \(errno)"), "\(mode): psql: \(pair.psql.message)")
            XCTAssertLessThan(pair.psql.seconds, 1, "\(mode): psql did not fail at once")
            assertSame(pair, code: code, layer: "network", status: 2, scenario: mode)
        }
    }

    /// 3. The pg_hba simulation sees the client as the server does: from 198.18.0.2, not 127.0.0.1.
    /// The server's own pg_hba.conf (netns.sh hold's lines) has, for database postgres, a
    /// `reject` line for 127.0.0.1/32 and then a `cert` line for 198.18.0.2/32; database loopdb
    /// only has lines for 127.0.0.1/32.
    func testTheSimulationUsesTheSourceAddressTowardTheServer() throws {
        // Accepted through the 198.18.0.2/32 line; the 127.0.0.1/32 reject line above it does not match.
        let accepted = try compare(network.conninfo(), hba: network.hbaFile)
        XCTAssertEqual(accepted.psql.status, 0, "psql: \(accepted.psql.stderr)")
        XCTAssertEqual(accepted.check.status, 0, accepted.check.stdout)
        XCTAssertNil(accepted.check.diagnosis, accepted.check.stdout)
        XCTAssertEqual(accepted.check.json?["outcome"] as? String, "connected")
        XCTAssertEqual(accepted.seconds, accepted.psql.seconds, accuracy: Self.tolerance)
        let simulation = try XCTUnwrap(simulationCheck(accepted.check), accepted.check.stdout)
        XCTAssertEqual(simulation["status"] as? String, "pass", "\(simulation)")
        XCTAssertTrue((simulation["summary"] as? String ?? "").contains("198.18.0.2/32 cert"), "the decisive line: \(simulation)")
        let trace = simulation["detail"] as? String ?? ""
        XCTAssertTrue(trace.split(separator: "\n").first?.contains("198.18.0.2") ?? false, "the trace names the client address: \(trace)")
        XCTAssertFalse(trace.contains("127.0.0.1 "), "the simulation used 127.0.0.1: \(trace)")

        // Refused by the server for 198.18.0.2, and so by the simulation.
        let refused = try compare(network.conninfo(dbname: "loopdb"), hba: network.hbaFile)
        XCTAssertTrue(refused.psql.message.contains(#"no pg_hba.conf entry for host "198.18.0.2""#), "psql: \(refused.psql.message)")
        assertSame(refused, code: "hba-no-entry", layer: "authentication", status: 1)
        let refusal = try XCTUnwrap(simulationCheck(refused.check), refused.check.stdout)
        XCTAssertEqual(refusal["status"] as? String, "fail", "\(refusal)")
        XCTAssertTrue((refusal["detail"] as? String ?? "").split(separator: "\n").first?.contains("198.18.0.2") ?? false, "\(refusal)")
    }

    /// 4. A server that stops mid-handshake: a real PostgreSQL that is SIGSTOPped (the kernel still
    /// completes the TCP handshake, nobody reads the SSLRequest), a server that answers 'S' and
    /// then says nothing (the TLS handshake stalls), one that answers 'S' and hangs up.
    func testAServerThatStopsMidHandshakeFailsLikeLibpq() throws {
        // The SSLRequest is never answered: still the network layer (TCP connected, no answer).
        try network.withPostmasterStopped {
            let pair = try compare(network.conninfo())
            assertTimedOut(pair.psql)
            assertSame(pair, code: "timeout", layer: "network", status: 2, scenario: "SIGSTOPped server")
        }

        // 'S' and then silence: libpq is in the TLS handshake (PQsslInUse) when the time runs out.
        let silent = try compare(network.conninfo(port: try network.listen("ssl-silent")))
        assertTimedOut(silent.psql)
        assertSame(silent, code: "timeout", layer: "tls", status: 2, scenario: "'S' then silence")

        // 'S' and then the connection closes: OpenSSL sees EOF; no code names that, so `unknown`.
        let closed = try compare(network.conninfo(port: try network.listen("ssl-close")))
        XCTAssertTrue(closed.psql.message.contains("SSL"), "psql: \(closed.psql.message)")
        assertSame(closed, code: "unknown", layer: "tls", status: 2, scenario: "'S' then close", racyClose: true)
    }

    // MARK: - Running both

    struct Pair {
        var psql: PSQLRun
        var check: CLIRun
        /// pgconnect-check's wall time.
        var seconds: Double
    }

    /// psql, then pgconnect-check (JSON), with the same conninfo in the client namespace.
    /// pgconnect-check may take psql's time plus 5 s before it is stopped.
    func compare(_ conninfo: String, hba: String? = nil) throws -> Pair {
        Self.waitForTheSameFractionOfASecond()
        let psql = try network.psql(conninfo)
        let limit = Int(psql.seconds.rounded(.up)) + 5
        var arguments = ["--format", "json", conninfo]
        if let hba { arguments += ["--hba", hba] }
        Self.waitForTheSameFractionOfASecond()
        let start = Date()
        let check = try CLIRun.run(arguments, launcher: ["/usr/bin/timeout", "-k", "1", String(limit)] + network.client,
                                   validatesSchema: false)
        let seconds = Date().timeIntervalSince(start)
        if check.status == 124 || check.status == 137 {
            XCTFail("pgconnect-check did not finish within \(limit) s (psql: \(String(format: "%.2f", psql.seconds)) s, \(psql.message))")
        } else if let json = check.json {
            let problems = SchemaValidator.report.validate(json)
            XCTAssertTrue(problems.isEmpty, "the report does not match docs/report.schema.json: \(problems)")
        } else {
            XCTFail("stdout is not JSON (status \(check.status)): \(check.stdout) \(check.stderr)")
        }
        // One line per comparison in the log: what libpq said and did, and what the check said.
        let diagnosis = check.diagnosis.map { "\($0["code"] as? String ?? "?")/\($0["layer"] as? String ?? "?")" } ?? "none"
        print(String(format: "network scenario: psql %.2f s exit %d %@ | pgconnect-check %.2f s exit %d %@ %@", psql.seconds,
                     psql.status, psql.message.debugDescription, seconds, check.status, diagnosis,
                     (check.diagnosis?["libpq_message"] as? String ?? "").debugDescription))
        return Pair(psql: psql, check: check, seconds: seconds)
    }

    /// Waits until the wall clock is 0.25 s into a second. libpq counts connect_timeout in whole
    /// seconds of time(NULL): `finish_time = time(NULL) + connect_timeout`, and each wait lasts
    /// `(finish_time - time(NULL)) * 1000` ms. A wait that begins in a later second than the timer
    /// (a wake-up across a second boundary) ends up to a second early. Started 0.25 s into a
    /// second, every step of a handshake on this local network stays in the timer's second, so
    /// both programs wait the full connect_timeout and their times can be compared.
    static func waitForTheSameFractionOfASecond() {
        let now = Date().timeIntervalSince1970
        let fraction = now - now.rounded(.down)
        let wait = (1.25 - fraction).truncatingRemainder(dividingBy: 1)
        usleep(useconds_t(wait * 1_000_000))
    }

    /// psql (libpq) gave up after connect_timeout (started as ``waitForTheSameFractionOfASecond()`` starts it).
    func assertTimedOut(_ psql: PSQLRun, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(psql.message.hasSuffix("failed: timeout expired"), "psql: \(psql.message)", file: file, line: line)
        XCTAssertEqual(psql.seconds, Double(Self.connectTimeout), accuracy: 0.5, "psql's wait", file: file, line: line)
    }

    /// The check failed as libpq did: code, layer, exit status, libpq's message, about the same time.
    func assertSame(_ pair: Pair, code: String, layer: String, status: Int32, scenario: String = "", racyClose: Bool = false,
                    file: StaticString = #filePath, line: UInt = #line) {
        let label = scenario.isEmpty ? "" : "\(scenario): "
        let timing = String(format: "psql %.2f s, pgconnect-check %.2f s", pair.psql.seconds, pair.seconds)
        XCTAssertNotEqual(pair.psql.status, 0, "\(label)psql connected", file: file, line: line)
        guard pair.check.status != 124, pair.check.status != 137 else { return }  // reported by compare
        XCTAssertEqual(pair.check.status, status, "\(label)exit status; \(pair.check.stdout)", file: file, line: line)
        XCTAssertEqual(pair.check.diagnosis?["code"] as? String, code, "\(label)diagnosis code", file: file, line: line)
        XCTAssertEqual(pair.check.diagnosis?["layer"] as? String, layer, "\(label)layer", file: file, line: line)
        // The report's list of layers stops at the same one.
        let failed = (pair.check.json?["checks"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "fail" }
        XCTAssertEqual(failed.first?["layer"] as? String, layer, "\(label)the first failing check", file: file, line: line)
        XCTAssertEqual(pair.check.json?["outcome"] as? String, status == 1 ? "refused" : "unreachable", "\(label)outcome",
                       file: file, line: line)
        let message = (pair.check.diagnosis?["libpq_message"] as? String).map(Self.atDefaultVerbosity)
        if racyClose {
            // The listener closes right after 'S': whether the ClientHello meets a closed socket
            // (RST: "Connection reset by peer", with "server closed the connection unexpectedly")
            // or the FIN first ("EOF detected") is a race, decided anew for psql and for the check.
            let forms = ["SSL SYSCALL error: EOF detected", "SSL SYSCALL error: Connection reset by peer"]
            for (who, text) in [("libpq_message", message ?? ""), ("psql", pair.psql.message)] {
                XCTAssertTrue(forms.contains(where: text.contains), "\(label)\(who) is not one of libpq's two texts for a closed handshake: \(text)", file: file, line: line)
            }
        } else {
            XCTAssertEqual(message, pair.psql.message, "\(label)libpq_message is not what libpq printed", file: file, line: line)
        }
        XCTAssertEqual(pair.seconds, pair.psql.seconds, accuracy: Self.tolerance, "\(label)\(timing)", file: file, line: line)
    }

    /// libpq's message as psql shows it: PGConnect asks libpq for PQERRORS_VERBOSE (to read the
    /// SQLSTATE of a refused login), which adds `SQLSTATE: ` after the severity and a LOCATION line.
    static func atDefaultVerbosity(_ message: String) -> String {
        message.replacingOccurrences(of: #"(FATAL|ERROR|PANIC):  [0-9A-Z]{5}: "#, with: "$1:  ", options: .regularExpression)
            .replacingOccurrences(of: #"\nLOCATION:  [^\n]*"#, with: "", options: .regularExpression)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func simulationCheck(_ run: CLIRun) -> [String: Any]? {
        (run.json?["checks"] as? [[String: Any]])?.first { $0["id"] as? String == "hba-simulation" }
    }
}
