// pgconnect-bench - the PGConnect side of scripts/bench.sh.
//
// Measures with PGConnect what pgconnect-bench-c (Benchmarks/CLibPQBench/main.c) measures with
// raw libpq, in the same modes and with the same output lines, so that scripts/bench.sh can
// alternate the two and report ratios:
//
//   pgconnect-bench connect N CONNINFO        Connection.connect + close, N times after a warm-up;
//                                             "connect_us <µs>" per connect (the connect only),
//                                             then where it went: before_us (until libpq starts),
//                                             libpq_us (libpq's connect), after_us (to the caller);
//                                             then "connect_cpu_us <µs> user_us <µs> sys_us <µs>":
//                                             the process's CPU per connect + close over the N
//   pgconnect-bench select1 N CONNINFO        N sequential `SELECT 1` (connection.query, `.int`);
//                                             "select1_per_s <rate>", then
//                                             "select1_cpu_us <µs> user_us <µs> sys_us <µs>" per query
//   pgconnect-bench decode K ROWS CONNINFO    K times: fetch ROWS rows × (int, text, timestamp,
//                                             bool) and read them with `.int`, `.string`, `.date`,
//                                             `.bool`; "decode_ms <ms>" per fetch, "decode_checksum <n>"
//
// For looking into pgconnect-check (not used by bench.sh's ratios):
//   pgconnect-bench check N CONNINFO          LoginChecker().check in-process: the first check
//                                             ("check_first_us", cold) and N more ("check_us")
//   pgconnect-bench probe N CONNINFO          TLSProbe().probe alone ("probe_us")
//   pgconnect-bench inspect N CONNINFO        ClientFilesInspector().inspect alone ("inspect_us")
//
// CPU is getrusage(RUSAGE_SELF) around the measured loop: every thread of the process (the
// caller's, the connections' queues, Swift's cooperative pool), user + system, as
// pgconnect-bench-c measures it.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PGConnect
import PGDiagnostics

/// Keep in step with DECODE_SQL in main.c.
let decodeSQL = """
    SELECT i, 'row ' || i, timestamp '2024-01-01 00:00:00' + i * interval '1.25 seconds', i % 3 = 0 \
    FROM generate_series(1, $1::int) AS i
    """

func fail(_ what: String, _ error: any Error) -> Never {
    FileHandleOutput.error("pgconnect-bench: \(what): \(error)")
    exit(1)
}

/// Unbuffered lines on file descriptors 1 and 2 (bench.sh reads them as they come).
enum FileHandleOutput {
    static func line(_ text: String) { emit(text + "\n", to: 1) }
    static func error(_ text: String) { emit(text + "\n", to: 2) }
    private static func emit(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

func microseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
}

/// `value` with `decimals` digits after the point (no Foundation needed).
func format(_ value: Double, _ decimals: Int) -> String {
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    let fraction = String(scaled % scale)
    return "\(scaled / scale)." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

/// The process's CPU time so far (all threads): user and system, in µs.
struct CPUTime {
    var user: Double
    var system: Double

    static func now() -> CPUTime {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func us(_ time: timeval) -> Double { Double(time.tv_sec) * 1e6 + Double(time.tv_usec) }
        return CPUTime(user: us(usage.ru_utime), system: us(usage.ru_stime))
    }

    /// "NAME <µs> user_us <µs> sys_us <µs>": the CPU per operation since `before`.
    func line(_ name: String, since before: CPUTime, operations: Int) -> String {
        let user = (self.user - before.user) / Double(operations)
        let system = (self.system - before.system) / Double(operations)
        return "\(name) \(format(user + system, 2)) user_us \(format(user, 2)) sys_us \(format(system, 2))"
    }
}

func connect(_ options: ConnectionOptions) async -> Connection {
    do {
        return try await Connection.connect(options)
    } catch {
        fail("connect", error)
    }
}

func benchConnect(_ count: Int, _ options: ConnectionOptions) async {
    await connect(options).close()  // warm-up: libraries, OpenSSL init, page cache
    let clock = ContinuousClock()
    var measured: [(start: ContinuousClock.Instant, end: ContinuousClock.Instant, timings: ConnectionTimings)] = []
    measured.reserveCapacity(count)
    let before = CPUTime.now()
    for _ in 0..<count {
        let start = clock.now
        let connection = await connect(options)
        let end = clock.now
        await connection.close()
        measured.append((start, end, connection.timings))
    }
    let after = CPUTime.now()
    for (start, end, timings) in measured {
        // Diagnostics: from the call to libpq's start, libpq's own connect, and from libpq's
        // CONNECTION_OK to the caller (TLS session, effective options, the hop back).
        let ready = timings.start + (timings.ready ?? .zero)
        FileHandleOutput.line("connect_us \(format(microseconds(end - start), 1)) before_us \(format(microseconds(timings.start - start), 1)) libpq_us \(format(microseconds(timings.ready ?? .zero), 1)) after_us \(format(microseconds(end - ready), 1))")
    }
    FileHandleOutput.line(after.line("connect_cpu_us", since: before, operations: count))
}

func benchSelect1(_ count: Int, _ options: ConnectionOptions) async {
    let connection = await connect(options)
    var sum = 0
    do {
        for _ in 0..<100 {  // warm-up
            sum += try await connection.query("SELECT 1")[0][0].int ?? 0
        }
        let clock = ContinuousClock()
        let before = CPUTime.now()
        let start = clock.now
        for _ in 0..<count {
            sum += try await connection.query("SELECT 1")[0][0].int ?? 0
        }
        let elapsed = clock.now - start
        let after = CPUTime.now()
        guard sum == count + 100 else { fail("select1", BenchError.wrongAnswer) }
        FileHandleOutput.line("select1_per_s \(format(Double(count) / (microseconds(elapsed) / 1e6), 1))")
        FileHandleOutput.line(after.line("select1_cpu_us", since: before, operations: count))
    } catch {
        fail("select1", error)
    }
    await connection.close()
}

func benchDecode(_ repetitions: Int, _ rows: Int, _ options: ConnectionOptions) async {
    let connection = await connect(options)
    var checksum: Int64 = 0
    let clock = ContinuousClock()
    do {
        for repetition in 0...repetitions {  // 0: warm-up
            let start = clock.now
            let result = try await connection.query(decodeSQL, [rows])
            guard result.count == rows, result.columns.count == 4 else { fail("decode", BenchError.wrongShape) }
            var sum: Int64 = 0
            for row in result {
                let id = row[0].int ?? 0
                let length = row[1].string?.utf8.count ?? 0
                guard let date = row[2].date else { fail("decode", BenchError.unparsableTimestamp) }
                let flag = row[3].bool == true ? 1 : 0
                sum += Int64(id + length + flag) + Int64(date.timeIntervalSince1970 - 1.7e9)
            }
            let elapsed = clock.now - start
            if repetition > 0 { FileHandleOutput.line("decode_ms \(format(microseconds(elapsed) / 1e3, 3))") }
            checksum = sum
        }
    } catch {
        fail("decode", error)
    }
    FileHandleOutput.line("decode_checksum \(checksum)")
    await connection.close()
}

/// In-process `LoginChecker().check` (what pgconnect-check does, without process start-up).
func benchCheck(_ count: Int, _ options: ConnectionOptions) async {
    let clock = ContinuousClock()
    let first = clock.now
    _ = await LoginChecker().check(options)  // warm-up: the first check in a process (as pgconnect-check runs it)
    FileHandleOutput.line("check_first_us \(format(microseconds(clock.now - first), 1))")
    for _ in 0..<count {
        let start = clock.now
        let report = await LoginChecker().check(options)
        let elapsed = clock.now - start
        _ = TextReportRenderer().render(report)
        let rendered = clock.now - start
        FileHandleOutput.line("check_us \(format(microseconds(elapsed), 1)) rendered_us \(format(microseconds(rendered), 1)) ok \(report.ok)")
    }
}

/// `TLSProbe().probe` alone: the second handshake pgconnect-check makes to explain a failure.
func benchProbe(_ count: Int, _ options: ConnectionOptions) async {
    _ = await TLSProbe().probe(options)  // warm-up
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        let result = await TLSProbe().probe(options)
        let elapsed = clock.now - start
        FileHandleOutput.line("probe_us \(format(microseconds(elapsed), 1)) answer \(result?.serverAnswer ?? result?.serverAlert ?? "none")")
    }
}

/// `ClientFilesInspector().inspect` alone: what a check spends on the client's files before connecting.
func benchInspect(_ count: Int, _ options: ConnectionOptions) {
    _ = ClientFilesInspector().inspect(options)  // warm-up
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        let result = ClientFilesInspector().inspect(options)
        let elapsed = clock.now - start
        FileHandleOutput.line("inspect_us \(format(microseconds(elapsed), 1)) checks \(result.checks.count)")
    }
}

enum BenchError: Error { case wrongAnswer, wrongShape, unparsableTimestamp }

func usage() -> Never {
    FileHandleOutput.error("""
        usage: pgconnect-bench connect N CONNINFO
               pgconnect-bench select1 N CONNINFO
               pgconnect-bench decode K ROWS CONNINFO
               pgconnect-bench check N CONNINFO
               pgconnect-bench probe N CONNINFO
               pgconnect-bench inspect N CONNINFO
        """)
    exit(64)
}

func count(_ text: String) -> Int {
    guard let value = Int(text), value > 0 else { usage() }
    return value
}

func options(_ conninfo: String) -> ConnectionOptions {
    do {
        return try ConnectionOptions(conninfo: conninfo)
    } catch {
        fail("conninfo", error)
    }
}

let arguments = CommandLine.arguments
switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
case (4, "connect"): await benchConnect(count(arguments[2]), options(arguments[3]))
case (4, "select1"): await benchSelect1(count(arguments[2]), options(arguments[3]))
case (4, "probe"): await benchProbe(count(arguments[2]), options(arguments[3]))
case (4, "inspect"): benchInspect(count(arguments[2]), options(arguments[3]))
case (4, "check"): await benchCheck(count(arguments[2]), options(arguments[3]))
case (5, "decode"): await benchDecode(count(arguments[2]), count(arguments[3]), options(arguments[4]))
default: usage()
}
