// Text helpers for the NSString methods FoundationEssentials does not have. Searching compares
// Unicode scalars, as PostgreSQL and libpq compare bytes: a `"` followed by a combining mark is still
// a quote to be doubled. NSString, like the standard library's `firstRange(of:)` and
// `replacing(_:with:)`, compares whole characters there and would leave that quote undoubled.
extension StringProtocol {
    /// The first occurrence of `target`, compared scalar by scalar.
    package func firstScalarRange(of target: some StringProtocol) -> Range<Index>? {
        unicodeScalars.firstRange(of: target.unicodeScalars)
    }

    /// Every occurrence of `target` replaced with `replacement`, compared scalar by scalar.
    package func replacingScalars(_ target: some StringProtocol, with replacement: some StringProtocol) -> String {
        var scalars = String.UnicodeScalarView(unicodeScalars)
        scalars.replace(target.unicodeScalars, with: replacement.unicodeScalars)
        return String(scalars)
    }

    /// Without the leading and trailing scalars that are in `set`.
    package func trimmingScalars(in set: ScalarSet) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !set.contains($0) }),
              let last = scalars.lastIndex(where: { !set.contains($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

/// The scalar sets of Foundation's `CharacterSet` that the package trims, as swift-corelibs-foundation
/// defines them.
package enum ScalarSet {
    /// Tab, space, no-break space and the other space separators (U+1680, U+2000–U+200B, U+202F,
    /// U+205F, U+3000).
    case whitespaces
    /// `whitespaces` and the line breaks U+000A–U+000D, U+0085, U+2028, U+2029.
    case whitespacesAndNewlines

    package func contains(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: true
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: self == .whitespacesAndNewlines
        default: false
        }
    }
}
