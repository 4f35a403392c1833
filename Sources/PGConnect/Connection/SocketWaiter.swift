#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// Waits for a libpq socket to become ready, on the connection's own dispatch queue (never on
/// Swift's cooperative pool), until a deadline, and wakes early when the task is cancelled.
///
/// Cancellation writes to a self-pipe that every wait polls beside the socket, so a cancelled
/// task stops within one `poll` wake-up rather than at the next timeout.
final class SocketWaiter: Sendable {
    enum Readiness { case ready, timedOut, cancelled }

    private let wakeRead: Int32
    private let wakeWrite: Int32
    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    /// Cancels `operation` and wakes the wait in progress, if any. A wake-up meant for an
    /// earlier operation only makes a later wait poll once more.
    func cancel(_ operation: OperationCancellation) {
        operation.cancel()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Wakes the wait in progress without cancelling anything (``InlineWaitWatchdog``).
    func kick() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Blocks the calling thread until `socket` is readable/writable as asked, `deadline` passes
    /// (`poll`'s timeout), the operation is cancelled, or `watch` expires — an inline wait on the
    /// caller's thread, ended by the watchdog's shared timer instead of a timer of its own.
    func wait(socket: Int32, read: Bool, write: Bool, deadline: ContinuousClock.Instant?, cancellation: OperationCancellation,
              watch: InlineWaitWatchdog.Ticket? = nil) -> Readiness {
        while true {
            if cancellation.isCancelled { return .cancelled }
            if watch?.expired == true { return .timedOut }
            var timeout: Int32 = -1
            if let deadline {
                let remaining = deadline - .now
                if remaining <= .zero { return .timedOut }
                let (seconds, attoseconds) = remaining.components
                let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1
                timeout = Int32(clamping: milliseconds)
            }
            var events: Int16 = 0
            if read { events |= Int16(POLLIN) }
            if write { events |= Int16(POLLOUT) }
            let (result, socketEvents, wakeEvents) = withUnsafeTemporaryAllocation(of: pollfd.self, capacity: 2) { fds in
                fds[0] = pollfd(fd: socket, events: events, revents: 0)
                fds[1] = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
                let result = poll(fds.baseAddress, 2, timeout)
                return (result, fds[0].revents, fds[1].revents)
            }
            if result < 0 {
                if errno == EINTR { continue }
                return .ready  // let libpq find and report the socket error
            }
            if wakeEvents != 0 { drain() }
            if socketEvents != 0 { return .ready }
            if result == 0, let deadline, deadline <= .now { return .timedOut }
        }
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }
}

/// Whether one operation (a connect or a query) was cancelled by its task.
final class OperationCancellation: Sendable {
    private let cancelled = Atomic(false)
    func cancel() { cancelled.store(true, ordering: .releasing) }
    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
}

/// Ends the inline waits of all connections that outlast their limit, with one timer for the
/// process instead of one per wait.
///
/// A query on the caller's thread waits in `poll` without a timeout; its ticket is kept here, and
/// a watchdog thread that ticks every ``tick`` while inline waits happen kicks the wait (through
/// the connection's wake-up pipe) once the ticket's deadline has passed, so the query moves to
/// its connection's queue. Arming and cancelling a kernel timer for every round trip costs more
/// than the round trip's own work on virtual machines; the watchdog's tick is shared (the same
/// idea as the Go runtime's sysmon, which takes back threads stuck in system calls). The thread
/// stops after ``idleTicks`` ticks without inline waits and starts again with the next.
final class InlineWaitWatchdog: Sendable {
    static let shared = InlineWaitWatchdog()

    /// How often the watchdog looks: an inline wait ends at most this long after its limit.
    static let tick: Duration = .microseconds(500)
    /// Ticks without inline waits before the watchdog thread stops (about 0.1 s).
    static let idleTicks = 200

    /// One inline wait: its limit and the waiter to kick.
    final class Ticket: Sendable {
        let deadline: ContinuousClock.Instant
        let waiter: SocketWaiter
        private let expiredFlag = Atomic(false)

        init(deadline: ContinuousClock.Instant, waiter: SocketWaiter) {
            self.deadline = deadline
            self.waiter = waiter
        }

        var expired: Bool { expiredFlag.load(ordering: .acquiring) }

        fileprivate func expire() {
            expiredFlag.store(true, ordering: .releasing)
            waiter.kick()
        }
    }

    private struct State: Sendable {
        var tickets: [ObjectIdentifier: Ticket] = [:]
        var idle = 0
        var running = false
    }

    private let state = ThreadLock(State())
    private let queue = DispatchQueue(label: "pgconnect.inline-wait-watchdog")

    /// Watches `ticket` until ``release(_:)``.
    func watch(_ ticket: Ticket) {
        let start = state.withLock { state in
            state.tickets[ObjectIdentifier(ticket)] = ticket
            state.idle = 0
            if state.running { return false }
            state.running = true
            return true
        }
        if start { queue.async { self.run() } }
    }

    func release(_ ticket: Ticket) {
        _ = state.withLock { $0.tickets.removeValue(forKey: ObjectIdentifier(ticket)) }
    }

    private func run() {
        let (seconds, attoseconds) = Self.tick.components
        while true {
            var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            _ = nanosleep(&pause, nil)
            let now = ContinuousClock.now
            let (due, stop): ([Ticket], Bool) = state.withLock { state in
                let due = state.tickets.values.filter { $0.deadline <= now }
                for ticket in due { state.tickets.removeValue(forKey: ObjectIdentifier(ticket)) }
                state.idle = state.tickets.isEmpty ? state.idle + 1 : 0
                guard state.idle < Self.idleTicks else {
                    state.running = false
                    return (due, true)
                }
                return (due, false)
            }
            due.forEach { $0.expire() }
            if stop { return }
        }
    }
}
