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
