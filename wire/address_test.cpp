#include "wire/address.hpp"

#include <catch2/catch.hpp>

using namespace mrd::wire;

TEST_CASE("split_host_port: names, IPv4, bracketed IPv6, defaults, and what is not HOST:PORT") {
    auto ok = [](const std::string& text, std::optional<uint16_t> fallback = std::nullopt) {
        auto r = split_host_port(text, fallback);
        REQUIRE(r.ok());
        return r->host + "|" + std::to_string(r->port);
    };
    CHECK(ok("127.0.0.1:8080") == "127.0.0.1|8080");
    CHECK(ok("api.example.com:443") == "api.example.com|443");
    CHECK(ok("[::1]:80") == "::1|80");
    CHECK(ok("[fd00::1]", 443) == "fd00::1|443");
    CHECK(ok("example.com", 80) == "example.com|80");
    CHECK(ok(":0") == "|0");
    CHECK(ok("localhost:0") == "localhost|0");
    for (const char* bad : {"example.com", "host:", "host:http", "host:65536", "host:-1", "::1", "[::1", "[::1]x", "[::1]:", "host:123456"})
        CHECK_FALSE(split_host_port(bad).ok());
    CHECK_FALSE(split_host_port("::1", 80).ok());
}
