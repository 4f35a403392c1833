import CLibPQ
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Owns one `PGresult` and clears it exactly once, in `deinit`.
///
/// `@unchecked Sendable`: a `PGresult` is immutable once libpq hands it over and libpq's
/// accessors only read it, so concurrent reads from several threads are safe.
final class ResultHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { PQclear(pointer) }
}

/// The rows and status of one query, read lazily from libpq's result (no copy of the data).
public struct QueryResult: Sendable, RandomAccessCollection {
    /// A result column.
    public struct Column: Sendable, Hashable {
        /// The column's name as the server sent it.
        public var name: String
        /// The type OID (e.g. 23 for int4, 25 for text).
        public var typeOID: UInt32
    }

    /// Everything in one object, so that copying a result, a ``Row`` or a ``Field`` (one per value
    /// read) costs a single retain. Column names are read from libpq the first time they are
    /// asked for: a query read by position never builds them.
    final class Storage: Sendable {
        let handle: ResultHandle
        let columnCount: Int
        private let described = Mutex<(columns: [Column], index: [String: Int])?>(nil)

        init(_ handle: ResultHandle) {
            self.handle = handle
            columnCount = Int(PQnfields(handle.pointer))
        }

        var columns: [Column] { description.columns }
        var columnIndex: [String: Int] { description.index }

        private var description: (columns: [Column], index: [String: Int]) {
            described.withLock { described in
                if let described { return described }
                let columns = (0..<columnCount).map { i in
                    Column(name: PQfname(handle.pointer, Int32(i)).map { String(cString: $0) } ?? "", typeOID: PQftype(handle.pointer, Int32(i)))
                }
                let index = Dictionary(columns.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
                described = (columns, index)
                return (columns, index)
            }
        }
    }

    let storage: Storage
    var handle: ResultHandle { storage.handle }
    /// The columns, in order.
    public var columns: [Column] { storage.columns }
    var columnIndex: [String: Int] { storage.columnIndex }

    init(_ handle: ResultHandle) {
        storage = Storage(handle)
    }

    /// The command tag, e.g. `SELECT 1` or `INSERT 0 3`.
    public var commandTag: String { String(cString: PQcmdStatus(handle.pointer)) }

    /// Rows affected by INSERT/UPDATE/DELETE/…, if the command reports it.
    public var affectedRows: Int? { Int(String(cString: PQcmdTuples(handle.pointer))) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { Int(PQntuples(handle.pointer)) }

    /// The row at `index`.
    public subscript(index: Int) -> Row {
        precondition(index >= 0 && index < endIndex, "row index \(index) out of range 0..<\(endIndex)")
        return Row(result: self, index: Int32(index))
    }
}

/// One row of a ``QueryResult``.
public struct Row: Sendable {
    let result: QueryResult
    let index: Int32

    /// The number of columns.
    public var count: Int { result.storage.columnCount }

    /// The field in column `column` (0-based).
    public subscript(column: Int) -> Field {
        precondition(column >= 0 && column < count, "column index \(column) out of range 0..<\(count)")
        return Field(result: result, row: index, column: Int32(column))
    }

    /// The field in the column named `name`, or `nil` if there is no such column.
    public subscript(name: String) -> Field? {
        result.columnIndex[name].map { self[$0] }
    }
}

/// One value of a row, in PostgreSQL's text format, with typed accessors.
///
/// Each accessor returns `nil` for SQL `NULL` and for text it cannot read as that type.
public struct Field: Sendable {
    let result: QueryResult
    let row: Int32
    let column: Int32

    /// Whether the value is SQL `NULL`.
    public var isNull: Bool { PQgetisnull(result.handle.pointer, row, column) != 0 }

    /// The column this value belongs to.
    public var columnInfo: QueryResult.Column { result.columns[Int(column)] }

    /// The text as the server sent it.
    public var string: String? {
        guard !isNull, let value = PQgetvalue(result.handle.pointer, row, column) else { return nil }
        return String(cString: value)
    }

    /// An integer column (`int2`, `int4`, `int8`, `oid`, or text holding an integer).
    public var int: Int? { withBytes(Self.integer) ?? nil }

    /// `int8` as `Int64`.
    public var int64: Int64? { withBytes(Self.integer) ?? nil }

    /// `int4` as `Int32`.
    public var int32: Int32? { withBytes(Self.integer) ?? nil }

    /// A `bool` column (`t`/`f`).
    public var bool: Bool? {
        // The server's own output, one byte, without making a String of it.
        if let single = withBytes({ $0.count == 1 ? $0[0] : nil }), let byte = single {
            switch byte {
            case UInt8(ascii: "t"), UInt8(ascii: "1"): return true
            case UInt8(ascii: "f"), UInt8(ascii: "0"): return false
            default: return nil
            }
        }
        return switch string {
        case "t", "true", "on", "1": true
        case "f", "false", "off", "0": false
        default: nil
        }
    }

    /// A `float4`/`float8`/`numeric` column (including `NaN`, `Infinity`).
    public var double: Double? {
        guard let text = string else { return nil }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }

    /// A `bytea` column in hex output format (`\x…`, the default since PostgreSQL 9.0).
    public var bytes: [UInt8]? {
        guard !isNull, let value = PQgetvalue(result.handle.pointer, row, column) else { return nil }
        let length = Int(PQgetlength(result.handle.pointer, row, column))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
            let text = UnsafeBufferPointer(start: bytes, count: length)
            guard length >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), length % 2 == 0 else { return nil }
            var decoded = [UInt8]()
            decoded.reserveCapacity((length - 2) / 2)
            var i = 2
            while i < length {
                guard let high = hexValue(text[i]), let low = hexValue(text[i + 1]) else { return nil }
                decoded.append(high << 4 | low)
                i += 2
            }
            return decoded
        }
    }

    /// Calls `body` with the value's bytes in libpq's buffer (no copy); nil for SQL `NULL`.
    private func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard !isNull, let value = PQgetvalue(result.handle.pointer, row, column) else { return nil }
        let length = Int(PQgetlength(result.handle.pointer, row, column))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) { body(UnsafeBufferPointer(start: $0, count: length)) }
    }

    /// What `T(String(decoding: text, as: UTF8.self))` gives — an optional `+` or `-`, then
    /// decimal digits, nil on anything else or on overflow — read without making the String.
    static func integer<T: FixedWidthInteger>(_ text: UnsafeBufferPointer<UInt8>) -> T? {
        var index = 0
        var negative = false
        if let sign = text.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            index = 1
        }
        guard index < text.count else { return nil }
        var value: T = 0
        while index < text.count {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, multiplyOverflow) = value.multipliedReportingOverflow(by: 10)
            // Negative numbers are accumulated below zero, so that T.min fits.
            let (next, addOverflow) = negative ? shifted.subtractingReportingOverflow(T(digit))
                                               : shifted.addingReportingOverflow(T(digit))
            guard !multiplyOverflow, !addOverflow else { return nil }
            value = next
            index += 1
        }
        return value
    }

    /// A `timestamptz`, `timestamp` (read as UTC) or `date` column, with `DateStyle=ISO`.
    public var date: Date? {
        // Parsed from libpq's buffer: the same result as `string.flatMap(PostgresTimestamp.parse)`
        // without making a String of every value.
        guard !isNull, let value = PQgetvalue(result.handle.pointer, row, column) else { return nil }
        let length = Int(PQgetlength(result.handle.pointer, row, column))
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            PostgresTimestamp.parse(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
