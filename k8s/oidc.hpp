// The kubeconfig's oidc auth-provider, as client-go's: the id-token is the bearer token while its
// exp claim is in the future; then (or after a 401) the refresh-token buys a new one from the
// issuer's token endpoint (found through its discovery document). Kept for the session, not
// written back to the kubeconfig.
#pragma once

#include "base/result.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace mrd::k8s {

struct OidcProvider {
    std::string client_id, client_secret, issuer_url, issuer_ca_pem;
    std::string id_token, refresh_token;
};

Result<OidcProvider> oidc_from_kubeconfig(const nlohmann::json& config);  // auth-provider.config
// The id token's exp claim; nullopt if it has none or is not a JWT.
std::optional<std::chrono::system_clock::time_point> jwt_expiry(const std::string& token);
// A new id token (and maybe refresh token) from the issuer.
Status refresh_oidc(OidcProvider& provider);

}  // namespace mrd::k8s
