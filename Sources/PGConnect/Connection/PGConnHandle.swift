import CLibPQ
import Logging
import Synchronization

/// Owns one `PGconn` and frees it exactly once (`finish()` or `deinit`).
///
/// `@unchecked Sendable`: the pointer is used only by the operation that holds the owning
/// ``Connection``'s ``OperationGate`` (and in `deinit`, when no other reference exists), so
/// libpq never sees two threads on one connection.
final class PGConnHandle: @unchecked Sendable {
    private(set) var pointer: OpaquePointer?
    /// Whether the connection is closed or broken, as of the end of the last operation: readable
    /// from any thread while an operation is using the `PGconn`.
    private let closed = Atomic<Bool>(false)
    /// Passed to libpq's notice receiver; lives as long as the `PGconn`.
    let notices: NoticeSink
    /// How quickly the server has been answering queries (used by the operation holding the gate).
    var answerPace = AnswerPace()

    init(_ pointer: OpaquePointer, logger: Logger) {
        self.pointer = pointer
        self.notices = NoticeSink(logger: logger)
    }

    /// Routes server notices (`RAISE NOTICE`, warnings) to the logger.
    func installNoticeReceiver() {
        guard let pointer else { return }
        PQsetNoticeReceiver(pointer, { context, result in
            guard let context, let result else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            sink.receive(result)
        }, Unmanaged.passUnretained(notices).toOpaque())
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Records libpq's status at the end of an operation (by the gate holder).
    func noteStatus() {
        let broken = pointer.map { PQstatus($0) != CONNECTION_OK } ?? true
        closed.store(broken, ordering: .releasing)
    }

    /// Closes the connection and frees the `PGconn`; later calls do nothing.
    func finish() {
        guard let pointer else { return }
        self.pointer = nil
        closed.store(true, ordering: .releasing)
        _ = KeyPassphraseHook.takeAskedWithoutPassword(pointer)
        PQfinish(pointer)
    }

    deinit { finish() }
}

/// Receives libpq notices for one connection.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    func receive(_ result: OpaquePointer) {
        let field = { (code: UInt8) -> String? in
            PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
        }
        let severity = field(UInt8(ascii: "V")) ?? field(UInt8(ascii: "S")) ?? "NOTICE"
        let message = field(UInt8(ascii: "M")) ?? ""
        var metadata: Logger.Metadata = ["postgres.severity": "\(severity)"]
        if let sqlState = field(UInt8(ascii: "C")) { metadata["postgres.sqlstate"] = "\(sqlState)" }
        let level: Logger.Level = severity == "WARNING" ? .warning : .notice
        logger.log(level: level, "\(message)", metadata: metadata)
    }
}
