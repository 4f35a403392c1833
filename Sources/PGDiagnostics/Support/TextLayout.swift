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

/// Wrapping, bullets and ANSI colour of the text reports (`check`'s and `server`'s).
struct TextStyle {
    var colour: Bool
    var width: Int

    func bullet(_ text: String) -> [String] {
        var lines = wrap(text, indent: "    ")
        if !lines.isEmpty { lines[0] = "  • " + lines[0].dropFirst(4) }
        return lines
    }

    func wrap(_ text: String, indent: String) -> [String] {
        var result: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                if !line.isEmpty && line.count + word.count + 1 > width - indent.count {
                    result.append(indent + line)
                    line = String(word)
                } else {
                    line += line.isEmpty ? String(word) : " " + word
                }
            }
            result.append(indent + line)
        }
        return result
    }

    func paint(_ text: String, _ code: Int, bold: Bool = false) -> String {
        guard colour else { return text }
        return "\u{1B}[\(bold ? "1;" : "")\(code)m\(text)\u{1B}[0m"
    }

    func bold(_ text: String) -> String {
        colour ? "\u{1B}[1m\(text)\u{1B}[0m" : text
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
