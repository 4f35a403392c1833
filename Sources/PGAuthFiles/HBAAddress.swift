import PGSupport

/// The address column of a host* pg_hba.conf rule (`ip_cmp_method`, `addr`/`mask`, `hostname` of
/// `HbaLine`).
public enum HBAAddress: Sendable, Hashable, CustomStringConvertible {
    /// `all`: any client address.
    case all
    /// `samehost`: any of the server's own IP addresses.
    case sameHost
    /// `samenet`: any address in a subnet the server is directly connected to.
    case sameNet
    /// `address/prefixLength` (the address as written; its host bits need not be zero).
    case cidr(address: String, prefixLength: Int)
    /// An address and a separate netmask column (the mask need not be contiguous; it is applied
    /// byte by byte).
    case addressMask(address: String, mask: String)
    /// A host name (`.suffix` matches any name ending in it), compared with the client's reverse-DNS
    /// name, case-insensitively, and then forward-confirmed.
    case hostName(String)

    /// The column as it would be written in pg_hba.conf.
    public var description: String {
        switch self {
        case .all: return "all"
        case .sameHost: return "samehost"
        case .sameNet: return "samenet"
        case .cidr(let address, let prefixLength): return "\(address)/\(prefixLength)"
        case .addressMask(let address, let mask): return "\(address) \(mask)"
        case .hostName(let name): return name
        }
    }
}

/// A numeric IP address as the server holds it (`struct sockaddr_storage`): 4 bytes for IPv4, 16 for
/// IPv6. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stays IPv6: PostgreSQL 12+ compares address
/// families first (`check_ip()`), so IPv4 rules never match it.
package struct IPAddressBytes: Hashable {
    package var bytes: [UInt8]
    package var isIPv4: Bool { bytes.count == 4 }

    /// What `getaddrinfo(AI_NUMERICHOST)` (glibc) accepts: IPv4 in every `inet_aton()` form
    /// (`127.1`, `0x7f.0.0.1`, octal `010.0.0.1`), IPv6 per `inet_pton()` with an optional numeric
    /// `%scope`. Anything else is not numeric, so pg_hba.conf takes it as a host name.
    package init?(parsing text: String) {
        if let v4 = Self.parseIPv4(text) {
            bytes = v4
        } else if let v6 = Self.parseIPv6(text) {
            bytes = v6
        } else {
            return nil
        }
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// An all-ones-prefix mask of the family (`pg_sockaddr_cidr_mask()`).
    package static func mask(prefixLength: Int, ipv4: Bool) -> IPAddressBytes {
        let count = ipv4 ? 4 : 16
        var bytes = [UInt8](repeating: 0, count: count)
        var remaining = prefixLength
        for index in 0..<count where remaining > 0 {
            let bits = min(8, remaining)
            bytes[index] = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            remaining -= bits
        }
        return IPAddressBytes(bytes: bytes)
    }

    /// `pg_range_sockaddr()`: same family and `(client ^ network) & mask == 0` in every byte.
    package func isInRange(network: IPAddressBytes, mask: IPAddressBytes) -> Bool {
        guard bytes.count == network.bytes.count, bytes.count == mask.bytes.count else { return false }
        for index in bytes.indices where (bytes[index] ^ network.bytes[index]) & mask.bytes[index] != 0 {
            return false
        }
        return true
    }

    /// The prefix length when the bytes form a contiguous mask, else nil.
    package var contiguousPrefixLength: Int? {
        var length = 0
        var ended = false
        for byte in bytes {
            for bit in (0..<8).reversed() {
                let set = byte & (1 << bit) != 0
                if set {
                    if ended { return nil }
                    length += 1
                } else {
                    ended = true
                }
            }
        }
        return length
    }

    /// `inet_aton()` without trailing garbage: one to four parts, each decimal, `0x` hex or `0` octal;
    /// the last part fills the remaining bytes.
    static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            var digits = Substring(part)
            var radix: UInt64 = 10
            if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
                radix = 16
                digits = digits.dropFirst(2)
                // A bare "0x" is zero in a middle part but has no digit as the last part.
                if digits.isEmpty && values.count == parts.count - 1 { return nil }
            } else if digits.hasPrefix("0") && digits.count > 1 {
                radix = 8
                digits = digits.dropFirst()
            } else if digits.isEmpty {
                return nil
            }
            var value: UInt64 = 0
            for character in digits {
                guard character.isASCII, let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
                value = value * radix + UInt64(digit)
                if value > 0xFFFF_FFFF { return nil }
            }
            values.append(value)
        }
        var result: UInt64 = 0
        for (index, value) in values.enumerated() {
            if index < values.count - 1 {
                guard value <= 0xFF else { return nil }
                result |= value << UInt64(8 * (3 - index))
            } else {
                let remainingBytes = 4 - index
                guard value < (UInt64(1) << UInt64(8 * remainingBytes)) else { return nil }
                result |= value
            }
        }
        return [UInt8(truncatingIfNeeded: result >> 24), UInt8(truncatingIfNeeded: result >> 16),
                UInt8(truncatingIfNeeded: result >> 8), UInt8(truncatingIfNeeded: result)]
    }

    /// `inet_pton(AF_INET6)`: hex groups of up to 4 digits, one `::`, an optional trailing dotted quad
    /// (strict decimal, no leading zeros), plus an optional `%scope` of digits.
    static func parseIPv6(_ text: String) -> [UInt8]? {
        var address = Substring(text)
        if let percent = address.firstIndex(of: "%") {
            let scope = address[address.index(after: percent)...]
            guard !scope.isEmpty, scope.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            address = address[..<percent]
        }
        guard address.contains(":") else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var v4Tail: [UInt8]?
        if let range = address.firstScalarRange(of: "::") {
            sawDoubleColon = true
            let before = address[..<range.lowerBound]
            let after = address[range.upperBound...]
            if after.contains("::") { return nil }
            guard let h = parseGroups(before, allowV4: false, v4: &v4Tail) else { return nil }
            guard let t = parseGroups(after, allowV4: true, v4: &v4Tail) else { return nil }
            head = h
            tail = t
        } else {
            guard let all = parseGroups(address, allowV4: true, v4: &v4Tail) else { return nil }
            head = all
        }
        let v4Groups = v4Tail == nil ? 0 : 2
        let total = head.count + tail.count + v4Groups
        if sawDoubleColon {
            guard total <= 7 else { return nil }
        } else {
            guard total == 8 else { return nil }
        }
        var groups = head
        if sawDoubleColon { groups += [UInt16](repeating: 0, count: 8 - total) }
        groups += tail
        var bytes: [UInt8] = []
        for group in groups { bytes += [UInt8(group >> 8), UInt8(group & 0xFF)] }
        if let v4Tail { bytes += v4Tail }
        return bytes.count == 16 ? bytes : nil
    }

    private static func parseGroups(_ text: Substring, allowV4: Bool, v4: inout [UInt8]?) -> [UInt16]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var groups: [UInt16] = []
        for (index, part) in parts.enumerated() {
            if index == parts.count - 1, allowV4, part.contains(".") {
                guard let quad = parseStrictDottedQuad(part) else { return nil }
                v4 = quad
                continue
            }
            guard (1...4).contains(part.count) else { return nil }
            var value: UInt16 = 0
            for character in part {
                guard character.isASCII, let digit = character.hexDigitValue else { return nil }
                value = value << 4 | UInt16(digit)
            }
            groups.append(value)
        }
        return groups
    }

    /// `inet_pton4()`: exactly four decimal parts 0–255 without leading zeros.
    static func parseStrictDottedQuad(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            if part.count > 1 && part.hasPrefix("0") { return nil }
            guard let value = Int(part), value <= 255 else { return nil }
            bytes.append(UInt8(value))
        }
        return bytes
    }

    /// Textual form (dotted quad or RFC 5952-ish compressed IPv6).
    var text: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [UInt16] = []
        for index in stride(from: 0, to: 16, by: 2) { groups.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])) }
        // Longest run of zero groups (length ≥ 2) becomes "::".
        var bestStart = -1, bestLength = 0, index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength { bestStart = index; bestLength = end - index }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ slice: ArraySlice<UInt16>) -> String { slice.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestLength < 2 { return hex(groups[...]) }
        return hex(groups[..<bestStart]) + "::" + hex(groups[(bestStart + bestLength)...])
    }
}
