#include "k8s/pem_data.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cctype>

namespace mrd::k8s {

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    std::string clean;
    for (char c : text)
        if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
    std::string out((clean.size() / 4 + 1) * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(clean.data()),
                            static_cast<int>(clean.size()));
    if (n < 0) return Error::msg("invalid base64 data", EINVAL);
    size_t pad = clean.size() >= 2 && clean[clean.size() - 1] == '=' ? (clean[clean.size() - 2] == '=' ? 2 : 1) : 0;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

Result<std::string> base64url_decode(std::string_view text) {
    std::string standard(text);
    for (auto& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (standard.size() % 4) standard += '=';
    return base64_decode(standard);
}

X509_STORE* certificate_store(const std::string& pem, int& certificates) {
    X509_STORE* store = X509_STORE_new();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    certificates = 0;
    while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, ca);
        X509_free(ca);
        ++certificates;
    }
    BIO_free(bio);
    return store;
}

}  // namespace mrd::k8s
