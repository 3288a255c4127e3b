#include "tracer/policy/config.hpp"
#include "base/document.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;
using nlohmann::json;

namespace {

Config build(const std::string& text, const std::string& format = "json", std::map<std::string, std::string> env = {}) {
    auto doc = mrd::parse_document(text, format);
    REQUIRE(doc.ok());
    auto c = build_config(*doc, env);
    if (!c) FAIL(c.error().message);
    return *c;
}

std::string error_of(const std::string& text, const std::string& format = "json", std::map<std::string, std::string> env = {}) {
    auto doc = mrd::parse_document(text, format);
    if (!doc) return doc.error().message;
    auto c = build_config(*doc, env);
    REQUIRE_FALSE(c.ok());
    return c.error().message;
}

}  // namespace

TEST_CASE("config: mirrord defaults") {
    Config c = build("{}");
    CHECK(c.env.enabled);
    CHECK(c.fs.mode == FsConfig::Mode::read);
    CHECK(c.incoming.mode == IncomingConfig::Mode::mirror);
    CHECK(c.outgoing.tcp);
    CHECK(c.outgoing.udp);
    CHECK_FALSE(c.outgoing.ignore_localhost);
    CHECK(c.dns.enabled);
    CHECK(c.hostname);
    CHECK(c.incoming.http_filter.ports == std::vector<uint16_t>{80, 8080});
}

TEST_CASE("config: the same settings in json, toml and yaml") {
    std::string json_text = R"({
        "target": {"path": "deploy/api/container/main", "namespace": "shop"},
        "feature": {
            "env": {"include": "DB_*;API_KEY", "override": {"MODE": "dev"}},
            "fs": {"mode": "write", "read_only": ["^/etc/.*"]},
            "network": {
                "incoming": {"mode": "steal", "http_filter": {"header_filter": "x-user: me"}, "port_mapping": [[8080, 80]]},
                "outgoing": {"udp": false, "filter": {"local": ["tcp://10.0.0.0/8:5432", "localhost"]}},
                "dns": false
            },
            "hostname": false
        }
    })";
    std::string toml_text = R"(
[target]
path = "deploy/api/container/main"
namespace = "shop"
[feature]
hostname = false
[feature.env]
include = "DB_*;API_KEY"
override = { MODE = "dev" }
[feature.fs]
mode = "write"
read_only = ["^/etc/.*"]
[feature.network]
dns = false
[feature.network.incoming]
mode = "steal"
port_mapping = [[8080, 80]]
http_filter = { header_filter = "x-user: me" }
[feature.network.outgoing]
udp = false
filter = { local = ["tcp://10.0.0.0/8:5432", "localhost"] }
)";
    std::string yaml_text = R"(
target:
  path: deploy/api/container/main
  namespace: shop
feature:
  env:
    include: "DB_*;API_KEY"
    override: {MODE: dev}
  fs:
    mode: write
    read_only: ["^/etc/.*"]
  network:
    incoming:
      mode: steal
      http_filter: {header_filter: "x-user: me"}
      port_mapping: [[8080, 80]]
    outgoing:
      udp: false
      filter:
        local: ["tcp://10.0.0.0/8:5432", localhost]
    dns: false
  hostname: false
)";
    for (auto [text, format] : {std::pair{json_text, "json"}, {toml_text, "toml"}, {yaml_text, "yaml"}}) {
        INFO(format);
        Config c = build(text, format);
        CHECK(c.target.path == "deploy/api/container/main");
        CHECK(c.target.namespace_ == "shop");
        CHECK(c.env.include == std::vector<std::string>{"DB_*", "API_KEY"});
        CHECK(c.env.override_vars.at("MODE") == "dev");
        CHECK(c.fs.mode == FsConfig::Mode::write);
        CHECK(c.fs.read_only == std::vector<std::string>{"^/etc/.*"});
        CHECK(c.incoming.mode == IncomingConfig::Mode::steal);
        CHECK(c.incoming.http_filter.header_filter == "x-user: me");
        CHECK(c.incoming.port_mapping == std::vector<std::pair<uint16_t, uint16_t>>{{8080, 80}});
        CHECK(c.outgoing.tcp);
        CHECK_FALSE(c.outgoing.udp);
        REQUIRE(c.outgoing.filter.side == FilterList::Side::local);
        REQUIRE(c.outgoing.filter.entries.size() == 2);
        CHECK(c.outgoing.filter.entries[0].protocol == AddressFilter::Protocol::tcp);
        CHECK(c.outgoing.filter.entries[0].host == "10.0.0.0/8");
        CHECK(c.outgoing.filter.entries[0].port == 5432);
        CHECK(c.outgoing.filter.entries[1].host == "localhost");
        CHECK_FALSE(c.dns.enabled);
        CHECK_FALSE(c.hostname);
    }
}

TEST_CASE("config: unknown keys and wrong types are rejected with the key's path") {
    CHECK_THAT(error_of(R"({"feature": {"network": {"outgoing": {"tcpp": true}}}})"),
               Catch::Contains("unknown key 'feature.network.outgoing.tcpp'") && Catch::Contains("did you mean 'tcp'"));
    CHECK_THAT(error_of(R"({"feature": {"hostname": "yes"}})"),
               Catch::Contains("'feature.hostname' must be a boolean"));
    CHECK_THAT(error_of(R"({"featur": {}})"), Catch::Contains("unknown key 'featur'"));
    CHECK_THAT(error_of(R"({"feature": {"fs": "rread"}})"), Catch::Contains("not one of local"));
    CHECK_THAT(error_of(R"({"feature": {"env": {"include": "A", "exclude": "B"}}})"), Catch::Contains("either include or exclude"));
    CHECK_THAT(error_of(R"({"feature": {"network": {"outgoing": {"filter": {"remote": ["a"], "local": ["b"]}}}}})"),
               Catch::Contains("not both"));
    CHECK_THAT(error_of(R"({"feature": {"fs": {"read_only": ["(unclosed"]}}})"), Catch::Contains("invalid regular expression"));
    CHECK_THAT(error_of(R"({"feature": {"network": {"incoming": {"port_mapping": [[1]]}}}})"), Catch::Contains("[port, port] pairs"));
    CHECK_THAT(error_of("{not json"), Catch::Contains("invalid JSON"));
    CHECK_THAT(error_of("a = [", "toml"), Catch::Contains("invalid TOML"));
    CHECK_THAT(error_of("a: [", "yaml"), Catch::Contains("invalid YAML"));
    CHECK_THAT(error_of("[1, 2]"), Catch::Contains("object at the top level"));
}

TEST_CASE("config: mirrord keys this implementation ignores only warn") {
    Config c = build(R"({"operator": false, "telemetry": false, "feature": {"copy_target": true}})");
    REQUIRE(c.warnings.size() == 3);
    CHECK_THAT(c.warnings[0], Catch::Contains("'feature.copy_target'"));
}

TEST_CASE("config: MIRRORD_* environment variables win over the file") {
    Config c = build(R"({"feature": {"network": {"outgoing": {"tcp": true}}}})", "json",
                     {{"MIRRORD_TCP_OUTGOING", "false"}, {"MIRRORD_IMPERSONATED_TARGET", "pod/x"},
                      {"MIRRORD_FILE_MODE", "local"}, {"MIRRORD_AGENT_TCP_STEAL_TRAFFIC", "true"},
                      {"MIRRORD_OVERRIDE_ENV_VARS_EXCLUDE", "A;B"}});
    CHECK_FALSE(c.outgoing.tcp);
    CHECK(c.target.path == "pod/x");
    CHECK(c.fs.mode == FsConfig::Mode::local);
    CHECK(c.incoming.mode == IncomingConfig::Mode::steal);
    CHECK(c.env.exclude == std::vector<std::string>{"A", "B"});
    CHECK_THAT(error_of("{}", "json", {{"MIRRORD_UDP_OUTGOING", "maybe"}}), Catch::Contains("MIRRORD_UDP_OUTGOING='maybe' is not a boolean"));
}

TEST_CASE("config: address filters") {
    auto f = AddressFilter::parse("udp://[fd00::1]:53");
    REQUIRE(f.ok());
    CHECK(f->protocol == AddressFilter::Protocol::udp);
    CHECK(f->host == "fd00::1");
    CHECK(f->port == 53);
    CHECK(AddressFilter::parse(":7331")->port == 7331);
    CHECK(AddressFilter::parse("fd00::/8")->host == "fd00::/8");
    CHECK(AddressFilter::parse("google.com:443")->host == "google.com");
    CHECK_FALSE(AddressFilter::parse("sctp://x").ok());
    CHECK_FALSE(AddressFilter::parse("x:99999").ok());
    CHECK_FALSE(AddressFilter::parse("1.2.3.0/40").ok());
    CHECK_FALSE(AddressFilter::parse("").ok());
}

TEST_CASE("config: target as an object path") {
    Config c = build(R"({"target": {"path": {"deployment": "api", "container": "app"}}})");
    CHECK(c.target.path == "deployment/api/container/app");
}

TEST_CASE("config: unix_streams are regexes, one or a list") {
    CHECK(build(R"({"feature": {"network": {"outgoing": {"unix_streams": "^/run/.*"}}}})").outgoing.unix_streams ==
          std::vector<std::string>{"^/run/.*"});
    CHECK(build(R"({"feature": {"network": {"outgoing": {"unix_streams": ["a", "b"]}}}})").outgoing.unix_streams.size() == 2);
    CHECK_THAT(error_of(R"({"feature": {"network": {"outgoing": {"unix_streams": ["(x"]}}}})"), Catch::Contains("invalid regular expression"));
}
