#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PGConnect

/// libpq's host name check for `sslmode=verify-full`, so a report can show why a name failed.
///
/// libpq does not expose it; this follows `pq_verify_peer_name_matches_certificate()` (fe-secure-common.c)
/// and `pgtls_verify_peer_name_matches_certificate_guts()` (fe-secure-openssl.c): every dNSName SAN
/// is compared as a string (a leading `*.` matches exactly one label), every iPAddress SAN byte by
/// byte against an IP-literal host; the CN counts only when no SAN has the host's type.
/// libpq's own verdict always comes first; this only explains it.
public enum HostnameMatcher {
    /// The outcome for one host and certificate.
    public struct Outcome: Sendable, Hashable {
        public var matches: Bool
        /// The names libpq compared, in order (SANs, then the CN if it was consulted).
        public var examined: [String]
        /// Whether the CN was consulted.
        public var usedCommonName: Bool
    }

    public static func check(host: String, certificate: CertificateInfo) -> Outcome {
        let hostAddress = ipBytes(host)
        var examined: [String] = []
        var sawHostType = false
        for entry in certificate.subjectAlternativeNames {
            if entry.hasPrefix("DNS:") {
                let name = String(entry.dropFirst(4))
                examined.append(name)
                if hostAddress == nil { sawHostType = true }
                if nameMatches(pattern: name, host: host) { return Outcome(matches: true, examined: examined, usedCommonName: false) }
            } else if entry.hasPrefix("IP:") {
                let address = String(entry.dropFirst(3))
                examined.append(address)
                if hostAddress != nil { sawHostType = true }
                if let hostAddress, let sanAddress = ipBytes(address), hostAddress == sanAddress {
                    return Outcome(matches: true, examined: examined, usedCommonName: false)
                }
            }
        }
        if !sawHostType, let commonName = certificate.commonName {
            examined.append(commonName)
            return Outcome(matches: nameMatches(pattern: commonName, host: host), examined: examined, usedCommonName: true)
        }
        return Outcome(matches: false, examined: examined, usedCommonName: false)
    }

    /// Case-insensitive equality, or libpq's wildcard rule: `*.rest` matches one non-empty label.
    static func nameMatches(pattern: String, host: String) -> Bool {
        let pattern = pattern.lowercased(), host = host.lowercased()
        if pattern == host { return true }
        guard pattern.hasPrefix("*."), pattern.count >= 3, host.count >= pattern.count else { return false }
        let suffix = pattern.dropFirst()  // ".rest"
        guard host.hasSuffix(suffix) else { return false }
        let label = host.dropLast(suffix.count)
        return !label.isEmpty && !label.contains(".")
    }

    /// The bytes of an IPv4 (inet_aton forms too) or IPv6 literal; nil for a host name.
    public static func ipBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_aton(text, &v4) != 0 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
