// Certificate material as kubeconfigs and OIDC carry it: base64 (standard and URL-safe) and PEM
// certificate bundles made into an OpenSSL trust store.
#pragma once

#include "base/result.hpp"

#include <openssl/x509.h>

#include <string>
#include <string_view>

namespace mrd::k8s {

std::string base64_encode(std::string_view bytes);
// Whitespace (line breaks of wrapped data) is ignored.
Result<std::string> base64_decode(std::string_view text);
// base64url without padding, as JWTs carry their parts.
Result<std::string> base64url_decode(std::string_view text);

// The certificates of a PEM bundle as a new store (the caller owns it); certificates: how many.
X509_STORE* certificate_store(const std::string& pem, int& certificates);

}  // namespace mrd::k8s
