#include "tracer/policy/resolved_config.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;
using nlohmann::json;

TEST_CASE("resolved config: read back, it is the same configuration") {
    auto config = build_config(json::parse(R"({
        "target": {"path": "deploy/api/container/app", "namespace": "shop"},
        "agent": {"ttl": 5, "labels": {"team": "a"}},
        "feature": {
            "env": {"include": "A;B", "override": {"X": "1"}},
            "fs": {"mode": "write", "read_only": ["^/etc"], "mapping": {"^/a": "/b"}},
            "network": {
                "incoming": {"mode": "steal", "http_filter": {"header_filter": "^x-user: me$", "ports": [8080]},
                             "port_mapping": [[8000, 80]], "ignore_ports": [9000]},
                "outgoing": {"udp": false, "filter": {"local": ["10.0.0.0/8:443"]}, "unix_streams": "/run/x.sock"},
                "dns": {"filter": {"remote": ["api.internal"]}}
            },
            "hostname": false
        },
        "experimental": {"allow_io_uring": true}
    })"), {});
    REQUIRE(config.ok());
    json once = resolved_config(*config);
    auto again = build_config(once, {});
    REQUIRE(again.ok());
    CHECK(resolved_config(*again) == once);
    CHECK(again->warnings.empty());
    CHECK(once["target"]["path"] == json({{"deployment", "api"}, {"container", "app"}}));
    CHECK(once["agent"]["startup_timeout"] == 60);  // defaults filled in
}

TEST_CASE("resolved config: the defaults read back as the defaults") {
    auto config = build_config(json::object(), {});
    REQUIRE(config.ok());
    auto again = build_config(resolved_config(*config), {});
    REQUIRE(again.ok());
    CHECK(resolved_config(*again) == resolved_config(*config));
    CHECK(target_object("") == nullptr);
    CHECK(target_object("targetless") == "targetless");
    CHECK(target_object("sts/db") == json({{"stateful_set", "db"}, {"container", nullptr}}));
}
