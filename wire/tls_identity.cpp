#include "wire/tls_identity.hpp"

#include <sys/random.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

namespace mrd::wire {

namespace {

template <class T, void (*Free)(T*)>
struct Owned {
    T* p;
    explicit Owned(T* ptr) : p(ptr) {}
    ~Owned() { if (p) Free(p); }
    Owned(const Owned&) = delete;
};

std::string hex_of(const unsigned char* bytes, size_t n) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out += hex[bytes[i] >> 4];
        out += hex[bytes[i] & 15];
    }
    return out;
}

std::string fingerprint_of(X509* cert) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!X509_digest(cert, EVP_sha256(), digest, &n)) return "";
    return hex_of(digest, n);
}

std::string pem_of(int (*write)(BIO*, void*), void* object) {
    Owned<BIO, BIO_free_all> bio(BIO_new(BIO_s_mem()));
    if (!write(bio.p, object)) return "";
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.p, &data);
    return std::string(data, static_cast<size_t>(n));
}

// The pin: the chain is not checked against any CA; the leaf's fingerprint must be the expected one.
struct Pin {
    std::string fingerprint;
};
int pin_index() {
    static int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int verify_pinned(int, X509_STORE_CTX* store) {
    if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;  // only the leaf matters
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* pin = static_cast<Pin*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pin_index()));
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    return pin && cert && fingerprint_of(cert) == pin->fingerprint ? 1 : 0;
}

}  // namespace

Result<TlsIdentity> TlsIdentity::generate(const std::string& common_name) {
    Owned<EVP_PKEY, EVP_PKEY_free> key(EVP_EC_gen("P-256"));
    if (!key.p) return Error::msg("cannot make a key pair", EIO);
    Owned<X509, X509_free> cert(X509_new());
    X509_set_version(cert.p, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    Owned<BIGNUM, BN_free> bn(BN_bin2bn(serial, sizeof serial, nullptr));
    BN_to_ASN1_INTEGER(bn.p, X509_get_serialNumber(cert.p));
    X509_gmtime_adj(X509_getm_notBefore(cert.p), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.p), 30L * 24 * 3600);
    X509_set_pubkey(cert.p, key.p);
    X509_NAME* name = X509_get_subject_name(cert.p);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.p, name);
    if (!X509_sign(cert.p, key.p, EVP_sha256())) return Error::msg("cannot sign a certificate", EIO);
    TlsIdentity id;
    id.certificate_pem = pem_of([](BIO* b, void* c) { return PEM_write_bio_X509(b, static_cast<X509*>(c)); }, cert.p);
    id.key_pem = pem_of([](BIO* b, void* k) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0, nullptr, nullptr);
    }, key.p);
    id.fingerprint = fingerprint_of(cert.p);
    if (id.certificate_pem.empty() || id.key_pem.empty() || id.fingerprint.empty()) return Error::msg("cannot encode a key pair", EIO);
    return id;
}

Result<std::shared_ptr<asio::ssl::context>> pinned_tls_context(const TlsIdentity& self, const std::string& peer, bool server) {
    // The context owns its pin: the shared_ptr's deleter frees both.
    auto* pin = new Pin{peer};
    std::shared_ptr<asio::ssl::context> ctx(
        new asio::ssl::context(server ? asio::ssl::context::tls_server : asio::ssl::context::tls_client), [pin](asio::ssl::context* c) {
            delete c;
            delete pin;
        });
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
    std::error_code ec;
    ctx->use_certificate(asio::buffer(self.certificate_pem), asio::ssl::context::pem, ec);
    if (!ec) ctx->use_private_key(asio::buffer(self.key_pem), asio::ssl::context::pem, ec);
    if (ec) return Error::msg("TLS identity: " + ec.message(), EINVAL);
    SSL_CTX_set_ex_data(native, pin_index(), pin);
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_pinned);
    return ctx;
}

std::string certificate_fingerprint(const std::string& pem) {
    Owned<BIO, BIO_free_all> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    Owned<X509, X509_free> cert(PEM_read_bio_X509(bio.p, nullptr, nullptr, nullptr));
    return cert.p ? fingerprint_of(cert.p) : "";
}

std::string peer_fingerprint(SSL* ssl) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (!cert) return "";
    std::string f = fingerprint_of(cert);
    X509_free(cert);
    return f;
}

std::string random_token() {
    unsigned char bytes[16] = {};
    for (size_t got = 0; got < sizeof bytes;) {
        ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n > 0) got += static_cast<size_t>(n);
    }
    return hex_of(bytes, sizeof bytes);
}

}  // namespace mrd::wire
