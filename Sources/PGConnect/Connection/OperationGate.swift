/// Lets one operation at a time use a connection, in the order they asked.
///
/// libpq allows one thread at a time per `PGconn`. An operation that finds the gate free takes it
/// at once and may run on the calling thread (the fast path of ``Connection/query(_:_:)``);
/// one that finds it taken waits in line, and is started by the operation before it when that
/// one leaves, so operations never overtake each other. Entering and leaving go through one
/// lock, which also orders every libpq call of one operation before the next one's.
final class OperationGate: Sendable {
    private struct State: Sendable {
        var busy = false
        var waiting: [@Sendable () -> Void] = []
        var next = 0
    }

    private let state = ThreadLock(State())

    /// Takes the gate if it is free; the caller must ``leave()`` later.
    func tryEnter() -> Bool {
        state.withLock { state in
            if state.busy { return false }
            state.busy = true
            return true
        }
    }

    /// Calls `start` when the gate is taken for it: now if it is free, else when the operations
    /// ahead have left. `start` must lead to exactly one ``leave()``.
    func enter(_ start: @escaping @Sendable () -> Void) {
        let now = state.withLock { state in
            if state.busy {
                state.waiting.append(start)
                return false
            }
            state.busy = true
            return true
        }
        if now { start() }
    }

    /// Passes the gate to the first waiting operation, or frees it.
    func leave() {
        let successor: (@Sendable () -> Void)? = state.withLock { state in
            guard state.next < state.waiting.count else {
                state.waiting.removeAll(keepingCapacity: true)
                state.next = 0
                state.busy = false
                return nil
            }
            let first = state.waiting[state.next]
            state.next += 1
            return first
        }
        successor?()
    }
}
