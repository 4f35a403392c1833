#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Text layout for reports, without Foundation's `String(format:)` and `padding(toLength:…)`.
enum TextLayout {
    /// `text` followed by spaces up to `width` characters (a column of a table).
    static func padded(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }

    /// `value` with `fractionDigits` decimals, rounded exactly as printf's `%.Nf` (C's own formatter).
    static func fixed(_ value: Double, fractionDigits: Int) -> String {
        let format = "%.\(fractionDigits)f"
        let length = withVaList([value]) { vsnprintf(nil, 0, format, $0) }
        var buffer = [CChar](repeating: 0, count: Int(max(length, 0)) + 1)
        _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, format, $0) }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

/// Path text, without NSString.
enum FilePath {
    /// NSString's `deletingLastPathComponent`: runs of slashes count as one and a trailing slash is
    /// ignored; "" for a bare name, "/" for a name in the root.
    static func deletingLastComponent(_ path: String) -> String {
        var components = path.split(separator: "/")
        let absolute = path.hasPrefix("/")
        guard !components.isEmpty else { return absolute ? "/" : "" }
        components.removeLast()
        let parent = components.joined(separator: "/")
        return absolute ? "/" + parent : parent
    }
}
