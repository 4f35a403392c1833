import PGConnect

/// OpenSSL's certificate verify reasons and the TLS alerts, in every spelling people paste, each
/// mapped to what went wrong — and so to a cause once it is known whose certificate it was.
///
/// Sources: OpenSSL `include/openssl/x509_vfy.h` (numbers, names) and
/// `crypto/x509/x509_txt.c` (texts: 1.1 writes "self signed", 3.0 "self-signed"); RFC 8446 §6
/// and `ssl/ssl_stat.c` `SSL_alert_desc_string_long` (alert texts); Node.js `lib/_tls_wrap.js`
/// (error codes), rustls `CertificateError`, Go `crypto/x509` errors, Java `sun.security`, .NET
/// `SslPolicyErrors`.
public enum TLSVocabulary {
    /// What a certificate verification or an alert says went wrong.
    public enum Failure: String, Sendable, Hashable {
        case untrusted, selfSigned, chainIncomplete, expired, notYetValid, revoked, crlMissing
        case nameMismatch, wrongPurpose, caAsLeaf, weak, unsupportedVersion
        /// A certificate refused without a more specific reason ("bad certificate", "certificate unknown").
        case rejected
        /// The server wanted a certificate and got none.
        case certificateRequired
        case protocolVersion, noApplicationProtocol, handshakeFailure
    }

    /// One verify reason.
    public struct Reason: Sendable, Hashable {
        public var number: Int?
        public var name: String?
        /// Lower-case spellings: OpenSSL's texts and the names drivers use.
        public var spellings: [String]
        public var failure: Failure
    }

    public static let reasons: [Reason] = [
        Reason(number: 2, name: "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT", spellings: ["unable to get issuer certificate"], failure: .chainIncomplete),
        Reason(number: 3, name: "X509_V_ERR_UNABLE_TO_GET_CRL", spellings: ["unable to get certificate crl", "unknownrevocationstatus"], failure: .crlMissing),
        Reason(number: 7, name: "X509_V_ERR_CERT_SIGNATURE_FAILURE", spellings: ["certificate signature failure", "badsignature"], failure: .untrusted),
        Reason(number: 9, name: "X509_V_ERR_CERT_NOT_YET_VALID", spellings: ["certificate is not yet valid", "notvalidyet", "cert_not_yet_valid"], failure: .notYetValid),
        Reason(number: 10, name: "X509_V_ERR_CERT_HAS_EXPIRED", spellings: ["certificate has expired", "cert_has_expired", "certificateexpiredexception", "(expired)", "error: expired"], failure: .expired),
        Reason(number: 18, name: "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT", spellings: ["depth_zero_self_signed_cert", "self-signed certificate", "self signed certificate"], failure: .selfSigned),
        Reason(number: 19, name: "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN", spellings: ["self_signed_cert_in_chain", "self-signed certificate in certificate chain", "self signed certificate in certificate chain"], failure: .selfSigned),
        Reason(number: 20, name: "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
               spellings: ["unable_to_get_issuer_cert_locally", "unable to get local issuer certificate", "unknownissuer", "certificate signed by unknown authority",
                           "unable to find valid certification path", "pkix path building failed", "not trusted by the trust provider", "remotecertificatechainerrors"],
               failure: .untrusted),
        Reason(number: 21, name: "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE", spellings: ["unable_to_verify_leaf_signature", "unable to verify the first certificate"], failure: .chainIncomplete),
        Reason(number: 23, name: "X509_V_ERR_CERT_REVOKED", spellings: ["certificate revoked", "cert_revoked", "(revoked)"], failure: .revoked),
        Reason(number: 24, name: "X509_V_ERR_INVALID_CA", spellings: ["invalid ca certificate", "invalid_ca"], failure: .untrusted),
        Reason(number: 26, name: "X509_V_ERR_INVALID_PURPOSE", spellings: ["unsupported certificate purpose", "unsuitable certificate purpose", "invalidpurpose"], failure: .wrongPurpose),
        Reason(number: 62, name: "X509_V_ERR_HOSTNAME_MISMATCH",
               spellings: ["hostname mismatch", "err_tls_cert_altname_invalid", "does not match certificate's altnames", "doesn't match certificate's altnames",
                           "notvalidforname", "no subject alternative", "could not be verified by hostnameverifier", "remotecertificatenamemismatch",
                           "hostname was not present in the certificate", "not present in server certificate", "certificate is valid for",
                           "doesn't contain any ip sans", "relies on legacy common name field", "certificate is not valid for any names"],
               failure: .nameMismatch),
        Reason(number: 64, name: "X509_V_ERR_IP_ADDRESS_MISMATCH", spellings: ["ip address mismatch"], failure: .nameMismatch),
        Reason(number: 66, name: "X509_V_ERR_EE_KEY_TOO_SMALL", spellings: ["ee key too small"], failure: .weak),
        Reason(number: 67, name: "X509_V_ERR_CA_KEY_TOO_SMALL", spellings: ["ca key too small"], failure: .weak),
        Reason(number: 68, name: "X509_V_ERR_CA_MD_TOO_WEAK", spellings: ["ca md too weak"], failure: .weak),
        Reason(number: nil, name: nil, spellings: ["causedasendentity"], failure: .caAsLeaf),
        Reason(number: nil, name: nil, spellings: ["unsupportedcertversion"], failure: .unsupportedVersion),
    ]

    /// The TLS alerts, by the name OpenSSL prints after `alert ` (Java and Go write them with
    /// underscores or spaces, rustls in CamelCase).
    public static let alerts: [(spellings: [String], failure: Failure)] = [
        (["unknown ca", "unknown_ca", "unknownca", "unknown certificate authority"], .untrusted),
        (["certificate expired", "certificate_expired", "certificateexpired"], .expired),
        (["certificate revoked", "certificate_revoked", "certificaterevoked"], .revoked),
        (["unsupported certificate", "unsupported_certificate", "unsupportedcertificate"], .wrongPurpose),
        (["certificate required", "certificate_required", "certificaterequired"], .certificateRequired),
        (["bad certificate", "bad_certificate", "badcertificate", "certificate unknown", "certificate_unknown", "certificateunknown",
          "access denied", "access_denied", "decrypt error", "decrypt_error"], .rejected),
        (["protocol version", "protocol_version", "protocolversion"], .protocolVersion),
        (["no application protocol", "no_application_protocol", "noapplicationprotocol"], .noApplicationProtocol),
        (["handshake failure", "handshake_failure", "handshakefailure"], .handshakeFailure),
    ]

    /// The verify reason named in lower-cased `text`, the most specific spelling first
    /// ("self-signed certificate in certificate chain" before "self-signed certificate").
    public static func reason(in text: String) -> Reason? { reason(in: ByteText(text.lowercased())) }

    /// Every reason's spellings (and `X509_V_ERR_*` name) as UTF-8, once.
    static let compiledSpellings: [(Reason, [UInt8])] = reasons.flatMap { reason in
        (reason.spellings + (reason.name.map { [$0.lowercased()] } ?? [])).map { (reason, Array($0.utf8)) }
    }

    static func reason(in bytes: ByteText) -> Reason? {
        let text = String(decoding: bytes.bytes, as: UTF8.self)
        // pgloader and OpenSSL's own tools: "SSL verify error: 20 X509_V_ERR_…", "verify error:num=20".
        for marker in ["verify error: ", "verify error:num=", "verify return code: "] {
            if let range = text.firstScalarRange(of: marker) {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                if let number = Int(digits), let reason = reasons.first(where: { $0.number == number }) { return reason }
            }
        }
        var best: (reason: Reason, length: Int)?
        for (reason, spelling) in compiledSpellings where spelling.count > best?.length ?? 0 && bytes.find(spelling) != nil {
            best = (reason, spelling.count)
        }
        return best?.reason
    }

    /// The alert named in lower-cased `text` (after `alert `, `fatal alert: ` or `remote error: tls: `).
    public static func alert(in text: String) -> Failure? {
        for marker in ["alert ", "alert: ", "alert:", "remote error: tls: ", "clientalertexception: "] {
            var searched = Substring(text)
            while let range = searched.firstScalarRange(of: marker) {
                let rest = searched[range.upperBound...]
                for (spellings, failure) in alerts where spellings.contains(where: { rest.hasPrefix($0) }) { return failure }
                searched = rest
            }
        }
        return nil
    }

    /// The alert's name as OpenSSL printed it (`tlsv1 alert unknown ca` → `unknown ca`), for quoting.
    public static func alertName(in text: String) -> String? {
        guard let range = text.firstScalarRange(of: "alert ") else { return nil }
        let rest = text[range.upperBound...]
        let name = rest.prefix { $0 != "\n" && $0 != "(" && $0 != ":" }.trimmingScalars(in: .whitespaces)
        return name.isEmpty ? nil : name
    }

    /// The cause of `failure` when it concerns `subject`'s certificate.
    public static func causes(of failure: Failure, about subject: KnowledgeBase.Subject) -> [String] {
        let server = subject != .clientCertificate
        switch failure {
        case .untrusted: return server ? ["server-ca-unknown"] : ["client-ca-unknown", "client-chain-incomplete"]
        case .selfSigned: return server ? ["server-self-signed"] : ["client-ca-unknown"]
        case .chainIncomplete: return server ? ["server-ca-unknown"] : ["client-chain-incomplete", "client-ca-unknown"]
        case .expired: return server ? ["server-cert-expired"] : ["client-cert-expired"]
        case .notYetValid: return server ? ["server-cert-not-yet-valid"] : ["client-cert-not-yet-valid"]
        case .revoked: return server ? ["server-cert-revoked"] : ["client-cert-revoked"]
        case .crlMissing: return server ? ["server-crl-missing"] : ["client-crl-missing"]
        case .nameMismatch: return ["server-name-mismatch", "client-compared-wrong-name"]
        case .wrongPurpose: return server ? ["server-ca-unknown"] : ["client-cert-wrong-usage"]
        case .caAsLeaf: return server ? ["server-ca-as-leaf"] : ["client-cert-rejected"]
        case .weak: return server ? ["server-cert-weak"] : ["client-cert-weak"]
        case .unsupportedVersion: return server ? ["server-cert-v1"] : ["client-cert-v1"]
        case .rejected: return server ? ["server-ca-unknown", "server-name-mismatch", "server-cert-expired"] : ["client-cert-rejected", "client-cert-not-yet-valid", "client-cert-weak"]
        case .certificateRequired: return ["client-cert-not-sent", "client-cert-not-passed"]
        case .protocolVersion: return ["tls-version-range"]
        case .noApplicationProtocol: return ["alpn-rejected"]
        case .handshakeFailure: return server ? ["server-ca-unknown", "tls-version-range"] : ["tls-version-range", "client-cert-rejected"]
        }
    }
}
