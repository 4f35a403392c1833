// tsan-repro: an object made on a DispatchQueue is handed to a task through
// withCheckedThrowingContinuation (what pgconnect's Connection.connect and query hand-offs do),
// and the task reads it on a cooperative thread. Swift orders everything before `resume` before
// everything after the `await` returns, so this program is race-free by construction: whatever
// ThreadSanitizer reports here is about its view of the hand-off, not about the code.
//
//   tsan-repro MODE [N]     N hand-offs (default 2000); MODE:
//     natural  the queue resumes whenever it is done (the race between resume and await decides)
//     early    the queue resumes before the task has reached its `await`
//     late     the queue resumes after the task has suspended in its `await`
//     locked   natural, plus a pthread mutex taken after making the object and before reading it
//     actor    natural, awaited from an actor (as ConnectionPool.open does)
//
// See README.md beside this file for the results and the reason.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Like pgconnect's Connection: immutable, Sendable, every field written once by `init` on the queue.
final class Published: Sendable {
    let number: Int
    let numbers: [Int]
    let name: String
    init(_ number: Int) {
        self.number = number
        self.numbers = [number, number + 1]
        self.name = "object \(number)"
    }
}

/// A pthread mutex (which ThreadSanitizer intercepts): the control's explicit synchronisation.
final class PthreadLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    func sync() {
        pthread_mutex_lock(mutex)
        pthread_mutex_unlock(mutex)
    }
}

enum Mode: String { case natural, early, late, locked, actor }

let queue = DispatchQueue(label: "tsan-repro.connection")
let lock = PthreadLock()
/// Set by the queue after `resume` in mode early; relaxed, so it orders nothing for ThreadSanitizer.
let resumed = Atomic(false)

/// Made on `queue` and returned through a continuation (Connection.connect's slow path).
func makeOnQueue(_ number: Int, _ mode: Mode) async throws -> Published {
    try await withCheckedThrowingContinuation { continuation in
        resumed.store(false, ordering: .relaxed)
        queue.async {
            if mode == .late { usleep(2000) }  // the task has suspended in its await by now
            let object = Published(number)
            if mode == .locked { lock.sync() }  // release: the reader's lock.sync() acquires it
            continuation.resume(returning: object)
            if mode == .early { resumed.store(true, ordering: .relaxed) }
        }
        // Mode early: the task reaches its await only after the resume (the continuation is
        // then already resumed, and the task goes on without suspending).
        if mode == .early { while !resumed.load(ordering: .relaxed) { sched_yield() } }
    }
}

func read(_ object: Published, _ mode: Mode) -> Int {
    if mode == .locked { lock.sync() }
    return object.number + object.numbers[1] + object.name.utf8.count
}

/// The same hand-off, awaited from an actor.
actor Holder {
    var total = 0
    func run(_ count: Int) async throws {
        for index in 0..<count {
            let object = try await makeOnQueue(index, .natural)
            total += read(object, .natural)
        }
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let mode = Mode(rawValue: arguments[1]) else {
    print("usage: tsan-repro natural|early|late|locked|actor [N]")
    exit(64)
}
let count = arguments.count > 2 ? Int(arguments[2]) ?? 2000 : 2000

let total = try await Task.detached {
    if mode == .actor {
        let holder = Holder()
        try await holder.run(count)
        return await holder.total
    }
    var total = 0
    for index in 0..<count {
        let object = try await makeOnQueue(index, mode)
        total += read(object, mode)
    }
    return total
}.value
print("\(mode.rawValue): \(count) hand-offs, checksum \(total)")
