#include "agent/http_filter.hpp"

#include <catch2/catch.hpp>

using namespace mrd;
using namespace mrd::agent;

namespace {

http::HttpHead head(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers) {
    return http::HttpHead{std::move(method), std::move(target), 0, std::move(headers)};
}

bool matches(const wire::HttpFilter& f, const http::HttpHead& h) {
    auto m = HttpMatcher::compile(f);
    REQUIRE(m.ok());
    return m->matches(h);
}

}  // namespace

TEST_CASE("http filter: header, path, method and combinations") {
    auto alice = head("GET", "/api/orders?id=7", {{"Host", "shop"}, {"X-User", "alice"}});
    auto bob = head("POST", "/health", {{"x-user", "bob"}});
    wire::HttpFilter header{"header", "(?i)^x-user: alice$", {}};
    CHECK(matches(header, alice));
    CHECK_FALSE(matches(header, bob));
    wire::HttpFilter path{"path", "^/api/", {}};
    CHECK(matches(path, alice));
    CHECK_FALSE(matches(path, bob));
    CHECK(matches({"method", "post", {}}, bob));
    CHECK_FALSE(matches({"method", "post", {}}, alice));
    wire::HttpFilter all{"all_of", "", {header, path}};
    wire::HttpFilter any{"any_of", "", {header, {"method", "POST", {}}}};
    CHECK(matches(all, alice));
    CHECK_FALSE(matches(all, bob));
    CHECK(matches(any, bob));
    CHECK(matches({}, bob));  // no filter: everything
    CHECK_FALSE(HttpMatcher::compile({"path", "(", {}}).ok());
    CHECK_FALSE(HttpMatcher::compile({"cookie", "x", {}}).ok());
}
