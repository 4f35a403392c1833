#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a certificate says: names, issuer, validity and usage, read with OpenSSL.
public struct CertificateInfo: Sendable, Hashable, Codable {
    /// The subject as an RFC 2253 string (most specific part first), e.g. `CN=alice,O=pgconnect`
    /// — the form PostgreSQL matches against with `clientname=DN`.
    public var subject: String
    /// The issuer, RFC 2253.
    public var issuer: String
    /// The subject's commonName, if any (what `clientname=CN` compares with the user).
    public var commonName: String?
    /// subjectAltName entries as `DNS:name`, `IP:address`, `email:…`, `URI:…`.
    public var subjectAlternativeNames: [String]
    /// Start of validity.
    public var notBefore: Date?
    /// End of validity.
    public var notAfter: Date?
    /// The serial number in hex.
    public var serialNumber: String
    /// Whether the certificate is a CA (basicConstraints CA:TRUE).
    public var isCA: Bool
    /// Whether it is self-signed (subject equals issuer and its own key verifies it).
    public var isSelfSigned: Bool
    /// extendedKeyUsage purposes present, e.g. `serverAuth`, `clientAuth` (empty: not restricted).
    public var extendedKeyUsage: [String]
    /// SHA-256 fingerprint of the DER encoding, colon-separated hex.
    public var sha256Fingerprint: String

    /// `date` as ISO 8601 in UTC to the second (`2027-01-15T08:00:00Z`), as reports print validity.
    public static func iso8601(_ date: Date) -> String { PostgresTimestamp.iso8601(date) }

    /// Whether the certificate is within its validity period at `date`.
    public func isValid(at date: Date = Date()) -> Bool {
        if let notBefore, date < notBefore { return false }
        if let notAfter, date > notAfter { return false }
        return true
    }
}
