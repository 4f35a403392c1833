#ifndef PGCONNECT_COPENSSL_SHIM_H
#define PGCONNECT_COPENSSL_SHIM_H
// OpenSSL, the same library libpq links; include path from pkg-config ("openssl").
// Swift cannot call OpenSSL's function-like macros (stacks, BIO controls), so the few we
// need are wrapped here as inline functions. Nothing else lives in C.
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/evp.h>

static inline int pgc_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *pgc_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }

static inline int pgc_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk) { return sk_GENERAL_NAME_num(sk); }
static inline const GENERAL_NAME *pgc_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i) { return sk_GENERAL_NAME_value(sk, i); }
static inline void pgc_GENERAL_NAMES_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }

/// The type (GEN_DNS, GEN_IPADD, GEN_EMAIL, GEN_URI, ...) of a subjectAltName entry.
static inline int pgc_general_name_type(const GENERAL_NAME *name) { return name->type; }

/// The raw bytes of a string-like subjectAltName entry (DNS, IP, email, URI); NULL otherwise.
static inline const unsigned char *pgc_general_name_bytes(const GENERAL_NAME *name, int *length) {
    const ASN1_STRING *s = NULL;
    switch (name->type) {
    case GEN_DNS: s = name->d.dNSName; break;
    case GEN_IPADD: s = name->d.iPAddress; break;
    case GEN_EMAIL: s = name->d.rfc822Name; break;
    case GEN_URI: s = name->d.uniformResourceIdentifier; break;
    default: break;
    }
    if (s == NULL) { *length = 0; return NULL; }
    *length = ASN1_STRING_length(s);
    return ASN1_STRING_get0_data(s);
}

/// XN_FLAG_RFC2253 is a compound macro Swift cannot import.
static inline unsigned long pgc_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }

static inline long pgc_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

static inline int pgc_sk_X509_NAME_num(const STACK_OF(X509_NAME) *sk) { return sk_X509_NAME_num(sk); }
static inline X509_NAME *pgc_sk_X509_NAME_value(const STACK_OF(X509_NAME) *sk, int i) { return sk_X509_NAME_value(sk, i); }

static inline long pgc_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline int pgc_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
static inline int pgc_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
static inline int pgc_TLS1_VERSION(void) { return TLS1_VERSION; }
static inline int pgc_TLS1_1_VERSION(void) { return TLS1_1_VERSION; }
static inline int pgc_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }
static inline int pgc_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }

// The server-side setup check (PGDiagnostics/Server) loads files as the server's be_tls_init() does.
#ifdef ERR_SYSTEM_ERROR
static inline int pgc_ERR_SYSTEM_ERROR(unsigned long code) { return ERR_SYSTEM_ERROR(code) ? 1 : 0; }
#else
static inline int pgc_ERR_SYSTEM_ERROR(unsigned long code) { (void)code; return 0; }
#endif
static inline uint64_t pgc_OPENSSL_INIT_LOAD_CONFIG(void) { return OPENSSL_INIT_LOAD_CONFIG; }
static inline void pgc_sk_X509_NAME_pop_free(STACK_OF(X509_NAME) *sk) { sk_X509_NAME_pop_free(sk, X509_NAME_free); }
static inline STACK_OF(X509) *pgc_sk_X509_new_null(void) { return sk_X509_new_null(); }
static inline int pgc_sk_X509_push(STACK_OF(X509) *sk, X509 *x) { return sk_X509_push(sk, x); }
static inline void pgc_sk_X509_free(STACK_OF(X509) *sk) { sk_X509_free(sk); }
static inline int pgc_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *sk) { return sk_X509_REVOKED_num(sk); }

#endif
