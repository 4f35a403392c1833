#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// Waits for a libpq socket to become ready until a deadline (`poll`'s own timeout), and wakes
/// early when the task is cancelled. Waits run on the connection's own dispatch queue; only a
/// connection whose owner opted in with `inlineWait:` waits on the calling thread, and then
/// never past that bound.
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

    /// Blocks the calling thread until `socket` is readable/writable as asked, `deadline` passes
    /// (`poll`'s timeout; a deadline already past returns `.timedOut` without polling), or the
    /// operation is cancelled.
    func wait(socket: Int32, read: Bool, write: Bool, deadline: ContinuousClock.Instant?,
              cancellation: OperationCancellation) -> Readiness {
        while true {
            if cancellation.isCancelled { return .cancelled }
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
