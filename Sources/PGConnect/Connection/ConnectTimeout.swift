#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibPQ

/// libpq's `connect_timeout` for a connection driven by `PQconnectPoll`, applied the way libpq's
/// own blocking connect applies it (`connectDBComplete` in libpq 15's and 16's fe-connect.c,
/// `pqConnectDBComplete` in 17 and 18), which `PQconnectPoll` callers otherwise never get. The
/// rules differ by version (``effectiveSeconds(_:libpqVersion:)``, ``countsWholeSeconds(libpqVersion:)``;
/// proven against libpq 15.18, 16.15, 17.10 and 18.6 by `LibPQVersionRulesTests`):
///
/// - The value is libpq's effective one, whatever its source (conninfo, service file,
///   `PGCONNECT_TIMEOUT`): read back with `PQconninfo` after `PQconnectStartParams`.
/// - It is parsed as libpq's `parse_int_param` parses it: `strtol` base 10, leading and trailing
///   whitespace allowed, nothing else, within `int`. A value it cannot parse fails the connection
///   with libpq's own words, appended to the connection's message as libpq appends them:
///   `invalid integer value "…" for connection option "connect_timeout"`.
/// - 0 or negative means no limit. libpq 15 and 16 raise 1 to 2 ("to prevent possibly waiting
///   hardly-at-all"); libpq 17 and 18 wait 1 s for 1.
/// - The timer (re)starts whenever libpq moves on to another host entry or another address of a
///   host. libpq 15 and 16 count whole wall-clock seconds: `finish_time = time(NULL) + timeout`, and
///   each wait lasts `(finish_time - time(NULL))` seconds, so a wait begun after the second turned
///   ends early by the fraction of a second the timer had started at. libpq 17 and 18 end the
///   attempt `timeout` seconds after it began, to the microsecond (`PQgetCurrentTimeUSec`).
/// - When it runs out, libpq appends `timeout expired` to the connection's message (after the
///   `connection to server at … failed: ` header of that attempt) and tries the next address or
///   host; when none is left, the accumulated message is the failure.
///
/// A `PQconnectPoll` caller cannot set libpq's internal `try_next_addr`, so moving on is done by
/// starting a new connection (`PQconnectStartParams`) with the `host`, `hostaddr` and `port`
/// entries after the current one, the message so far kept in front of the new connection's.
/// Differences that remain:
/// - A host name that resolves to several addresses: libpq would try that name's next address;
///   here the attempt moves on to the next host entry (the name's other addresses are skipped).
/// - Which entry libpq is on is read from `PQhost`/`PQport` (libpq walks its list in order), so two
///   identical consecutive entries cannot be told apart: after a timeout on the second, the new
///   list starts at the second again (one extra attempt).
/// - `target_session_attrs=prefer-standby` starts a second pass over all hosts in libpq; a new
///   connection made after a timeout only covers the entries after the current one.
/// - libpq 16+ with `load_balance_hosts=random` shuffles the entries; the entries "after the
///   current one" are then those after it in the list as given.
/// - An empty entry (libpq's default host) as the only remaining one cannot be passed on
///   (`PQconnectStartParams` treats an empty value as unset, so `PGHOST` would apply again).
/// - On success, ``Connection/effectiveOptions`` shows the remaining entries the final connection
///   was started with.
struct ConnectTimeout {
    /// Seconds per attempt, as libpq `libpqVersion` uses them (``effectiveSeconds(_:libpqVersion:)``); `nil`: no limit.
    let seconds: Int?
    /// libpq's effective value, verbatim (`nil` when unset).
    let text: String?
    /// libpq's effective host, hostaddr and port lists.
    let targets: Targets
    /// The libpq version whose rules apply.
    let libpqVersion: Int

    /// The host entry libpq is on, and the address, when the timer was last started.
    private var timed: (entry: Int, address: String)?
    /// libpq's `finish_time`: wall-clock seconds (libpq before 17).
    private var finish: time_t = -1
    /// libpq's `end_time` (libpq 17 and later): when the attempt ends, to the microsecond.
    private var end: ContinuousClock.Instant?
    /// The host entry libpq is on, as far as `PQhost`/`PQport` tell.
    private(set) var entry = 0
    /// The `PQhost` value of an empty (default) entry, once seen.
    private var defaultHost: String?

    /// Reads libpq's effective `connect_timeout` and host lists from a started connection.
    /// - Throws: the message libpq's blocking connect gives for a value it cannot parse
    ///   (the caller fails the connection with it).
    init(_ conn: OpaquePointer, libpqVersion: Int = LibPQ.version) throws(InvalidValue) {
        self.libpqVersion = libpqVersion
        var values: [String: String] = [:]
        if let list = PQconninfo(conn) {
            var cursor = list
            while let keyword = cursor.pointee.keyword {
                let name = String(cString: keyword)
                if ["connect_timeout", "host", "hostaddr", "port"].contains(name), let value = cursor.pointee.val {
                    values[name] = String(cString: value)
                }
                cursor += 1
            }
            PQconninfoFree(list)
        }
        targets = Targets(host: values["host"] ?? "", hostaddr: values["hostaddr"] ?? "", port: values["port"] ?? "")
        text = values["connect_timeout"]
        guard let text else {
            seconds = nil
            return
        }
        guard let value = Self.parseInt(text) else { throw InvalidValue(text: text) }
        seconds = Self.effectiveSeconds(value, libpqVersion: libpqVersion)
    }

    /// How long libpq `libpqVersion` waits per host and address for a parsed `connect_timeout`
    /// of `value`; nil: no limit (0 or negative). libpq 15 and 16 raise 1 to 2 (libpq 16.15 waits
    /// 2 s for `connect_timeout=1`, like 15.18; so do 16.0 and 16.3, from psycopg-binary 3.1.19
    /// and 3.2.1, tried by hand); libpq 17 and later take the value as it is.
    static func effectiveSeconds(_ value: Int, libpqVersion: Int = LibPQ.version) -> Int? {
        guard value > 0 else { return nil }
        return libpqVersion >= 170000 ? value : max(value, 2)
    }

    /// Whether libpq `libpqVersion` counts `connect_timeout` in whole wall-clock seconds
    /// (`time(NULL)`: libpq 15 and 16, proven against 15.18 and 16.15) rather than to the
    /// microsecond from the moment the timer started (libpq 17 and later).
    static func countsWholeSeconds(libpqVersion: Int = LibPQ.version) -> Bool {
        libpqVersion < 170000
    }

    /// A `connect_timeout` libpq's `parse_int_param` refuses.
    struct InvalidValue: Error {
        let text: String
        /// libpq's line, as it appends it to the connection's message.
        var libpqLine: String { "invalid integer value \"\(text)\" for connection option \"connect_timeout\"\n" }
    }

    /// libpq's `parse_int_param`: `strtol` base 10 (leading whitespace and a sign allowed), only
    /// whitespace after the number, and the result must fit an `int`.
    static func parseInt(_ text: String) -> Int? {
        text.withCString { start -> Int? in
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let number = strtol(start, &end, 10)
            guard var cursor = end, UnsafePointer(cursor) != start, errno == 0, number == Int(Int32(truncatingIfNeeded: number))
            else { return nil }
            while cursor.pointee != 0, isspace(Int32(UInt8(bitPattern: cursor.pointee))) != 0 { cursor += 1 }
            return cursor.pointee == 0 ? number : nil
        }
    }

    /// Follows libpq to the entry and address it is on now, and (re)starts the timer when they
    /// changed, as `connectDBComplete` does before each wait.
    mutating func observe(_ conn: OpaquePointer) {
        locate(host: String(cString: PQhost(conn)), port: String(cString: PQport(conn)))
        guard seconds != nil else { return }
        let address = String(cString: PQhostaddr(conn))
        if timed.map({ $0.entry != entry || $0.address != address }) ?? true {
            timed = (entry, address)
            if Self.countsWholeSeconds(libpqVersion: libpqVersion) {
                finish = time(nil) + time_t(seconds ?? 0)
            } else {
                end = .now + .seconds(seconds ?? 0)
            }
        }
    }

    /// When the next wait must end (nil without a limit): libpq 15's and 16's `pqSocketPoll` waits
    /// `finish_time - time(NULL)` whole seconds from now; libpq 17 and later wait until `end_time`.
    func waitDeadline(now: ContinuousClock.Instant = .now) -> ContinuousClock.Instant? {
        guard seconds != nil else { return nil }
        if !Self.countsWholeSeconds(libpqVersion: libpqVersion), let end { return end }
        return now + .seconds(max(0, Int64(finish - time(nil))))
    }

    /// The entry libpq is on: the current one while `PQhost`/`PQport` still match it, else the
    /// first later entry that matches (an exact host match before an empty, default entry).
    private mutating func locate(host: String, port: String) {
        if targets.matches(entry, host: host, port: port, defaultHost: defaultHost) {
            if targets.expectedHost(entry) == nil { defaultHost = defaultHost ?? host }
            return
        }
        let later = (entry + 1)..<max(entry + 1, targets.count)
        if let exact = later.first(where: { targets.expectedHost($0) == host && targets.matches($0, host: host, port: port, defaultHost: nil) }) {
            entry = exact
        } else if let fallback = later.first(where: { targets.matches($0, host: host, port: port, defaultHost: defaultHost) }) {
            entry = fallback
            if targets.expectedHost(fallback) == nil { defaultHost = defaultHost ?? host }
        }
    }

    /// Whether entries remain after the current one.
    var hasMoreEntries: Bool { entry + 1 < targets.count }

    /// `options` for a new connection to the entries after the current one.
    func optionsForRemainingEntries(_ options: ConnectionOptions) -> ConnectionOptions {
        targets.options(after: entry, base: options)
    }

    /// libpq's effective `host`, `hostaddr` and `port` lists, entry by entry as libpq's
    /// `connectOptions2` pairs them.
    struct Targets {
        let hosts: [String]
        let addresses: [String]
        let ports: [String]

        init(host: String, hostaddr: String, port: String) {
            // libpq's parse_comma_separated_list: split on every comma, no escapes, no trimming.
            func split(_ text: String) -> [String] {
                text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            }
            hosts = split(host)
            addresses = split(hostaddr)
            ports = split(port)
        }

        /// libpq's `nconnhost`: the number of hostaddr entries, else of host entries, else 1.
        var count: Int { !addresses.isEmpty ? addresses.count : !hosts.isEmpty ? hosts.count : 1 }

        /// What `PQhost` returns for entry `index` (the host, else the hostaddr); nil for an empty
        /// entry, where libpq substitutes its default.
        func expectedHost(_ index: Int) -> String? {
            if index < hosts.count, !hosts[index].isEmpty { return hosts[index] }
            if index < addresses.count, !addresses[index].isEmpty { return addresses[index] }
            return nil
        }

        /// What `PQport` returns for entry `index` (one port applies to every entry).
        func expectedPort(_ index: Int) -> String? {
            ports.count == 1 ? ports[0] : index < ports.count ? ports[index] : nil
        }

        func matches(_ index: Int, host: String, port: String, defaultHost: String?) -> Bool {
            guard index < count else { return false }
            if let expected = expectedPort(index), expected != port { return false }
            if let expected = expectedHost(index) { return expected == host }
            return defaultHost.map { $0 == host } ?? true
        }

        /// `base` with the entries after `index` as its `host`, `hostaddr` and `port`.
        func options(after index: Int, base: ConnectionOptions) -> ConnectionOptions {
            var options = base
            func rest(_ list: [String]) -> String? {
                list.count > index + 1 ? list[(index + 1)...].joined(separator: ",") : nil
            }
            options["host"] = rest(hosts)
            options["hostaddr"] = rest(addresses)
            options["port"] = ports.count == 1 ? ports[0] : rest(ports)
            return options
        }
    }
}
