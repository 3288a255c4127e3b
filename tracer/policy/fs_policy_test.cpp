#include "tracer/policy/fs_policy.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;

namespace {

FsPolicy make(FsConfig c) {
    auto p = FsPolicy::create(c, {"/home/me/project", "/home/me", "/home/me/project/app", "/tmp"});
    REQUIRE(p.ok());
    return *p;
}

}  // namespace

TEST_CASE("fs policy: read mode (mirrord's default)") {
    FsPolicy p = make({});
    CHECK(p.route("/app/config.yaml", false) == PathRoute::remote_read);
    CHECK(p.route("/app/config.yaml", true) == PathRoute::local);  // writes stay local in read mode
    CHECK(p.route("/var/log/app/x.log", false) == PathRoute::remote_read);
    CHECK(p.route("/etc/passwd", false) == PathRoute::local);
    CHECK(p.route("/etc/resolv.conf", false) == PathRoute::remote_read);
    CHECK(p.route("/etc/ssl/certs/ca.pem", false) == PathRoute::remote_read);
    CHECK(p.route("/usr/lib/libc.so.6", false) == PathRoute::local);
    CHECK(p.route("/proc/self/maps", false) == PathRoute::local);
    CHECK(p.route("/tmp/x", false) == PathRoute::local);
    CHECK(p.route("/home/me/project/main.go", false) == PathRoute::local);  // the cwd
    CHECK(p.route("/data/lib.so", false) == PathRoute::local);
    CHECK(p.route("/data/script.PY", false) == PathRoute::local);  // case-insensitive
    CHECK(p.route("/home/me/.kube/config", false) == PathRoute::not_found);
    CHECK(p.route("/", false) == PathRoute::local);
}

TEST_CASE("fs policy: write, local and localwithoverrides modes") {
    FsConfig c;
    c.mode = FsConfig::Mode::write;
    CHECK(make(c).route("/app/out.txt", true) == PathRoute::remote_write);
    CHECK(make(c).route("/etc/passwd", true) == PathRoute::local);
    c.mode = FsConfig::Mode::local;
    CHECK(make(c).route("/app/config.yaml", false) == PathRoute::local);
    c.mode = FsConfig::Mode::localwithoverrides;
    CHECK(make(c).route("/app/config.yaml", false) == PathRoute::local);
    CHECK(make(c).route("/etc/hosts", false) == PathRoute::remote_read);
    c.read_only = {"^/app/"};
    CHECK(make(c).route("/app/config.yaml", false) == PathRoute::remote_read);
}

TEST_CASE("fs policy: user patterns win over defaults, in mirrord's order") {
    FsConfig c;
    c.not_found = {R"(\.secret$)"};
    c.read_write = {"^/etc/app/"};
    c.read_only = {"^/tmp/shared/"};
    c.local = {"^/app/cache"};
    FsPolicy p = make(c);
    CHECK(p.route("/app/key.secret", false) == PathRoute::not_found);
    CHECK(p.route("/etc/app/settings", true) == PathRoute::remote_write);
    CHECK(p.route("/tmp/shared/x", false) == PathRoute::remote_read);
    CHECK(p.route("/tmp/shared/x", true) == PathRoute::local);
    CHECK(p.route("/app/cache/1", false) == PathRoute::local);
}

TEST_CASE("fs policy: mapping and invalid patterns") {
    FsConfig c;
    c.mapping = {{"^/home/me/data/(.*)$", "/app/data/$1"}};
    CHECK(make(c).map("/home/me/data/a.txt") == "/app/data/a.txt");
    CHECK(make(c).map("/other") == "/other");
    FsConfig bad;
    bad.read_only = {"(unclosed"};
    auto p = FsPolicy::create(bad, {});
    REQUIRE_FALSE(p.ok());
    CHECK_THAT(p.error().message, Catch::Contains("feature.fs.read_only") && Catch::Contains("(unclosed"));
}
