import COpenSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension CertificateInfo {
    /// Reads an OpenSSL `X509` without taking ownership of it. For pgconnect's own modules
    /// (PGDiagnostics reads certificate files with the same code).
    @_spi(OpenSSL) public init(_ certificate: OpaquePointer) {
        subject = Self.name(X509_get_subject_name(certificate))
        issuer = Self.name(X509_get_issuer_name(certificate))
        commonName = Self.commonName(X509_get_subject_name(certificate))
        subjectAlternativeNames = Self.alternativeNames(certificate)
        notBefore = Self.date(X509_get0_notBefore(certificate))
        notAfter = Self.date(X509_get0_notAfter(certificate))
        serialNumber = Self.serial(certificate)
        isCA = X509_check_ca(certificate) != 0
        isSelfSigned = X509_check_issued(certificate, certificate) == X509_V_OK
        extendedKeyUsage = Self.extendedKeyUsage(certificate)
        sha256Fingerprint = Self.fingerprint(certificate)
    }

    /// RFC 2253 text of an X509_NAME (`X509_NAME_print_ex` with `XN_FLAG_RFC2253`), as PostgreSQL
    /// itself formats a client DN for `clientname=DN`.
    @_spi(OpenSSL) public static func name(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, pgc_xn_flag_rfc2253()) >= 0 else { return "" }
        var data: UnsafeMutablePointer<CChar>?
        let length = pgc_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    static func alternativeNames(_ certificate: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { pgc_GENERAL_NAMES_free(names) }
        var result: [String] = []
        for i in 0..<pgc_sk_GENERAL_NAME_num(names) {
            guard let entry = pgc_sk_GENERAL_NAME_value(names, i) else { continue }
            var length: Int32 = 0
            let type = pgc_general_name_type(entry)
            guard let bytes = pgc_general_name_bytes(entry, &length) else { continue }
            let buffer = UnsafeBufferPointer(start: bytes, count: Int(length))
            switch type {
            case GEN_DNS: result.append("DNS:" + String(decoding: buffer, as: UTF8.self))
            case GEN_EMAIL: result.append("email:" + String(decoding: buffer, as: UTF8.self))
            case GEN_URI: result.append("URI:" + String(decoding: buffer, as: UTF8.self))
            case GEN_IPADD: result.append("IP:" + ipString(Array(buffer)))
            default: continue
            }
        }
        return result
    }

    static func ipString(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        if bytes.count == 16 {
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return hex(bytes)
    }

    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    static func serial(_ certificate: OpaquePointer) -> String {
        guard let serial = X509_get0_serialNumber(certificate), let number = ASN1_INTEGER_to_BN(serial, nil) else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { CRYPTO_free(hex, #fileID, #line) }
        return String(cString: hex)
    }

    static func extendedKeyUsage(_ certificate: OpaquePointer) -> [String] {
        let flags = X509_get_extended_key_usage(certificate)
        guard flags != UInt32.max else { return [] }  // no extension: every purpose allowed
        var purposes: [String] = []
        if flags & UInt32(XKU_SSL_SERVER) != 0 { purposes.append("serverAuth") }
        if flags & UInt32(XKU_SSL_CLIENT) != 0 { purposes.append("clientAuth") }
        if flags & UInt32(XKU_SMIME) != 0 { purposes.append("emailProtection") }
        if flags & UInt32(XKU_CODE_SIGN) != 0 { purposes.append("codeSigning") }
        return purposes
    }

    static func fingerprint(_ certificate: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 else { return "" }
        return hex(digest.prefix(Int(length)), separator: ":")
    }

    /// Upper-case hex pairs, as `String(format: "%02X")` prints each byte, without the cost of a
    /// Foundation format string per byte (this runs for every certificate of every connection).
    static func hex(_ bytes: some Collection<UInt8>, separator: String = "") -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * (2 + separator.utf8.count))
        for (i, byte) in bytes.enumerated() {
            if i > 0 { text.append(contentsOf: separator.utf8) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
