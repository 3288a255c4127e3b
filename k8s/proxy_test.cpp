#include "k8s/proxy.hpp"

#include <catch2/catch.hpp>

using namespace mrd::k8s;

TEST_CASE("proxy: the kubeconfig's proxy-url, else the environment's unless NO_PROXY covers the host") {
    auto p = choose_proxy("http://u:pw@proxy.corp:3128", "10.0.0.1", true, {{"NO_PROXY", "*"}}).value();
    REQUIRE(p.has_value());
    CHECK(p->host == "proxy.corp");
    CHECK(p->port == 3128);
    CHECK(p->user == "u");
    CHECK(p->password == "pw");
    CHECK(choose_proxy("", "api.example.com", true, {{"HTTPS_PROXY", "http://127.0.0.1:8888"}}).value()->port == 8888);
    CHECK_FALSE(choose_proxy("", "api.example.com", true, {{"HTTP_PROXY", "http://127.0.0.1:8888"}}).value().has_value());
    CHECK_FALSE(choose_proxy("", "api.example.com", true, {}).value().has_value());
    CHECK_FALSE(choose_proxy("", "api.example.com", true, {{"HTTPS_PROXY", "http://p:1"}, {"NO_PROXY", ".example.com"}}).value());
    CHECK_FALSE(choose_proxy("socks5://p:1", "x", true, {}).ok());
}

TEST_CASE("proxy: NO_PROXY entries") {
    CHECK(bypasses_proxy("localhost,.svc,10.0.0.0/8", "10.1.2.3"));
    CHECK(bypasses_proxy("example.com", "api.example.com"));
    CHECK(bypasses_proxy(".example.com", "example.com"));
    CHECK_FALSE(bypasses_proxy("example.com", "notexample.com"));
    CHECK(bypasses_proxy("api.internal:6443", "api.internal"));
    CHECK(bypasses_proxy(" * ", "anything"));
    CHECK_FALSE(bypasses_proxy("192.168.0.0/16,fd00::/8", "10.0.0.1"));
    CHECK(bypasses_proxy("fd00::/8", "fd00::5"));
}
