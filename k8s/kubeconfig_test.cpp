#include "k8s/kubeconfig.hpp"

#include <catch2/catch.hpp>

using namespace mrd::k8s;
using nlohmann::json;

namespace {

json config(json context, json cluster, json user) {
    return {{"current-context", "c"},
            {"contexts", {{{"name", "c"}, {"context", context}}}},
            {"clusters", {{{"name", "k"}, {"cluster", cluster}}}},
            {"users", {{{"name", "u"}, {"user", user}}}}};
}

}  // namespace

TEST_CASE("kubeconfig: keys left empty (null) read as absent, as kubectl reads them") {
    auto c = resolve_kubeconfig({config({{"cluster", "k"}, {"user", "u"}, {"namespace", nullptr}},
                                        {{"server", "https://h:6443"}, {"proxy-url", nullptr}, {"certificate-authority", nullptr}},
                                        {{"token", "t"}, {"client-certificate", nullptr}, {"exec", nullptr}})},
                                "", "/tmp");
    REQUIRE(c.ok());
    CHECK(c->namespace_ == "default");
    CHECK(c->token == "t");
    CHECK_FALSE(c->exec.has_value());
}

TEST_CASE("kubeconfig: a value of the wrong type is an error, not a crash") {
    auto c = resolve_kubeconfig({config({{"cluster", "k"}, {"user", "u"}, {"namespace", 7}}, {{"server", "https://h"}}, json::object())},
                                "", "/tmp");
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message.find("kubeconfig") != std::string::npos);
    auto users_null = resolve_kubeconfig({{{"current-context", "c"}, {"contexts", nullptr}}}, "", "/tmp");
    CHECK_FALSE(users_null.ok());
}

TEST_CASE("kubeconfig: an oidc id-token's expiry is its exp claim") {
    // {"alg":"none"}.{"exp":2000000000}.x
    CHECK(jwt_expiry("eyJhbGciOiJub25lIn0.eyJleHAiOjIwMDAwMDAwMDB9.x") == std::chrono::system_clock::from_time_t(2000000000));
    CHECK_FALSE(jwt_expiry("not-a-jwt").has_value());
    CHECK_FALSE(jwt_expiry("a.e30.b").has_value());  // {} has no exp
}

TEST_CASE("kubeconfig: auth-providers other than oidc are refused with a reason") {
    auto c = resolve_kubeconfig({config({{"cluster", "k"}, {"user", "u"}}, {{"server", "https://h"}},
                                        {{"auth-provider", {{"name", "gcp"}, {"config", json::object()}}}})},
                                "", "/tmp");
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().message.find("gcp") != std::string::npos);
}
