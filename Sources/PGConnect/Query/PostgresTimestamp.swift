#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Parses and formats PostgreSQL's text timestamps (`DateStyle = ISO`, the default).
enum PostgresTimestamp {
    /// Reads `2024-01-02 03:04:05.678901+00`, `...+05:30`, a bare `timestamp` (taken as UTC),
    /// or a `date` (`2024-01-02`). Returns nil for `infinity`, BC dates or anything else.
    static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    /// ``parse(_:)-(String)`` on the UTF-8 bytes of the text (e.g. straight from a `PGresult`).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Date? {
        var cursor = ByteCursor(bytes: bytes)
        guard let year = cursor.number(4), cursor.expect("-"), let month = cursor.number(2), cursor.expect("-"),
              let day = cursor.number(2) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var offsetSeconds = 0
        if cursor.expect(" ") || cursor.expect("T") {
            guard let h = cursor.number(2), cursor.expect(":"), let m = cursor.number(2), cursor.expect(":"),
                  let s = cursor.number(2) else { return nil }
            (hour, minute, second) = (h, m, s)
            if cursor.expect(".") {
                var scale = 0.1
                while let digit = cursor.digit() {
                    fraction += Double(digit) * scale
                    scale /= 10
                }
            }
            if let sign = cursor.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                cursor.index += 1
                guard let oh = cursor.number(2) else { return nil }
                var om = 0, os = 0
                if cursor.expect(":") { guard let m = cursor.number(2) else { return nil }; om = m }
                if cursor.expect(":") { guard let s = cursor.number(2) else { return nil }; os = s }
                offsetSeconds = (oh * 3600 + om * 60 + os) * (sign == UInt8(ascii: "-") ? -1 : 1)
            }
        }
        guard cursor.isAtEnd else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Double(days * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// Reads ASCII digits and punctuation off a byte buffer (no copies, no exclusivity checks).
    private struct ByteCursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        var isAtEnd: Bool { index >= bytes.count }
        var first: UInt8? { index < bytes.count ? bytes[index] : nil }

        /// The next byte's value if it is a digit (and moves past it).
        mutating func digit() -> Int? {
            guard index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 else { return nil }
            defer { index += 1 }
            return Int(bytes[index] &- UInt8(ascii: "0"))
        }

        /// Exactly `count` digits as a number.
        mutating func number(_ count: Int) -> Int? {
            guard bytes.count - index >= count else { return nil }
            var value = 0
            for _ in 0..<count {
                guard let digit = digit() else { return nil }
                value = value * 10 + digit
            }
            return value
        }

        mutating func expect(_ character: Unicode.Scalar) -> Bool {
            guard first == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`.
    static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = Int(interval.rounded(.down))
        var micros = Int(((interval - Double(seconds)) * 1_000_000).rounded())
        if micros == 1_000_000 { seconds += 1; micros = 0 }
        let days = Int((Double(seconds) / 86400).rounded(.down))
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(micros, 6))+00"
    }

    /// `2027-01-15T08:00:00Z`: ISO 8601 in UTC to the second, without Foundation's formatter
    /// (which loads ICU: milliseconds and megabytes in a short-lived command).
    static func iso8601(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let days = Int((Double(seconds) / 86400).rounded(.down))
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))Z"
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
