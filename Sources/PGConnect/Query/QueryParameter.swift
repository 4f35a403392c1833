#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A value that can be sent as a query parameter in PostgreSQL's text format.
///
/// Pass `nil` in the parameter list for SQL `NULL`.
public protocol QueryParameter: Sendable {
    /// The value as PostgreSQL's text input function reads it.
    var postgresText: String { get }
}

extension String: QueryParameter { public var postgresText: String { self } }
extension Substring: QueryParameter { public var postgresText: String { String(self) } }
extension Int: QueryParameter { public var postgresText: String { String(self) } }
extension Int16: QueryParameter { public var postgresText: String { String(self) } }
extension Int32: QueryParameter { public var postgresText: String { String(self) } }
extension Int64: QueryParameter { public var postgresText: String { String(self) } }
extension Bool: QueryParameter { public var postgresText: String { self ? "t" : "f" } }

extension Double: QueryParameter {
    /// Shortest round-tripping text; `NaN` and infinities as PostgreSQL spells them.
    public var postgresText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return "\(self)"
    }
}

/// Bytes sent as `bytea` in hex format (`\x0102…`).
public struct ByteaParameter: QueryParameter, Hashable {
    /// The bytes.
    public var bytes: [UInt8]
    /// Wraps bytes for a `bytea` parameter.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var postgresText: String {
        let hex = Array("0123456789abcdef".utf8)
        var text = [UInt8](repeating: 0, count: 2 + bytes.count * 2)
        text[0] = UInt8(ascii: "\\")
        text[1] = UInt8(ascii: "x")
        for (i, byte) in bytes.enumerated() {
            text[2 + 2 * i] = hex[Int(byte >> 4)]
            text[3 + 2 * i] = hex[Int(byte & 0xF)]
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Date: QueryParameter {
    /// ISO 8601 in UTC with microseconds, suitable for `timestamptz`.
    public var postgresText: String { PostgresTimestamp.format(self) }
}
