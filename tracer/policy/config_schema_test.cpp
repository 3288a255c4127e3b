// Every key of mirrord's configuration schema, in every shape it accepts (testdata/, made by
// scripts/mirrord-schema-samples from mirrord 3.250's mirrord-schema.json), is accepted: used, or
// ignored with one warning that names it. Never refused.
#include "tracer/policy/config.hpp"
#include "tracer/policy/config_schema.hpp"
#include "tracer/policy/resolved_config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <fstream>

using namespace mrd::tracer;
using nlohmann::json;

TEST_CASE("config schema: every key of mirrord's schema is accepted, or ignored with a warning naming it") {
    auto file = std::filesystem::path(__FILE__).parent_path() / "testdata" / "mirrord_schema_samples.json";
    std::ifstream in(file);
    REQUIRE(in);
    json samples = json::parse(in);
    REQUIRE(samples.size() > 400);
    size_t ignored = 0;
    for (auto& sample : samples) {
        std::string path = sample["path"];
        INFO(path << ": " << sample["document"].dump());
        auto config = build_config(sample["document"], {});
        REQUIRE(config.ok());
        for (auto& warning : config->warnings) CHECK(warning.find("'") != std::string::npos);  // names the key
        if (!config->warnings.empty()) ++ignored;
    }
    CHECK(ignored > 0);
}

TEST_CASE("config schema: mirrord's shorthands") {
    auto build = [](const char* text) { return build_config(json::parse(text), {}); };
    CHECK(build(R"({"target": {"deployment": "api", "container": "app"}})")->target.path == "deployment/api/container/app");
    CHECK(build(R"({"target": {"namespace": null, "path": null}})")->target.path.empty());
    auto off = build(R"({"feature": {"network": false}})");
    CHECK(off->incoming.mode == IncomingConfig::Mode::off);
    CHECK_FALSE(off->outgoing.tcp);
    CHECK_FALSE(off->dns.enabled);
    CHECK(build(R"({"feature": {"network": {"incoming": false}}})")->incoming.mode == IncomingConfig::Mode::off);
    CHECK(build(R"({"feature": {"network": {"incoming": {"http_filter": {"ports": 9090}}}}})")->incoming.http_filter.ports ==
          std::vector<uint16_t>{9090});
    auto labels = build(R"({"target": {"labels": {"app": "x"}}})");
    REQUIRE(labels.ok());
    CHECK(labels->target.path.empty());
    REQUIRE(labels->warnings.size() == 1);
    CHECK(labels->warnings[0].find("target.path.labels") != std::string::npos);
}

TEST_CASE("config schema: every key marked as used is read, and resolved configs use only such keys") {
    CHECK(unread_schema_keys().empty());
    // Every leaf of a resolved configuration is a key that is read back.
    std::function<void(const json&, const std::string&)> leaves = [&](const json& v, const std::string& path) {
        bool opaque = path == "target.path" || path == "agent.labels" || path == "agent.annotations" ||
                      path == "agent.resources" || path == "agent.node_selector" || path.rfind("feature.fs.mapping", 0) == 0 ||
                      path.rfind("feature.env.override", 0) == 0 || path.rfind("feature.env.mapping", 0) == 0 ||
                      path.rfind("feature.network.outgoing.filter", 0) == 0 || path.rfind("feature.network.dns.filter", 0) == 0 ||
                      path.rfind("feature.network.incoming.http_filter", 0) == 0;
        if (v.is_object() && !v.empty() && !opaque) {
            for (auto& [key, child] : v.items()) leaves(child, path.empty() ? key : path + "." + key);
            return;
        }
        INFO(path);
        CHECK(is_supported_key(path));
    };
    auto config = build_config(json::object(), {});
    REQUIRE(config.ok());
    leaves(resolved_config(*config), "");
}

TEST_CASE("config schema: mirrord's environment variables are read as their keys") {
    auto config = build_config(json::object(), {{"MIRRORD_AGENT_TTL", "7"},
                                                {"MIRRORD_TCP_OUTGOING", "false"},
                                                {"MIRRORD_FILE_MODE", "write"},
                                                {"MIRRORD_IMPERSONATED_TARGET", "deploy/api"},
                                                {"MIRRORD_OVERRIDE_ENV_VARS_INCLUDE", "*_URL;HOME"},
                                                {"MIRRORD_HTTP_FILTER_PORTS", "80,9090"},
                                                {"MIRRORD_FILE_LOCAL_PATTERN", "^/tmp;^/var"}});
    REQUIRE(config.ok());
    CHECK(config->agent.ttl == 7);
    CHECK_FALSE(config->outgoing.tcp);
    CHECK(config->outgoing.udp);
    CHECK(config->fs.mode == FsConfig::Mode::write);
    CHECK(config->target.path == "deploy/api");
    CHECK(config->env.include == std::vector<std::string>{"*_URL", "HOME"});  // wildcards, not regexes
    CHECK(config->incoming.http_filter.ports == std::vector<uint16_t>{80, 9090});
    CHECK(config->fs.local == std::vector<std::string>{"^/tmp", "^/var"});
    auto bad = build_config(json::object(), {{"MIRRORD_AGENT_TTL", "soon"}});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "MIRRORD_AGENT_TTL='soon' is not a number");
    auto regex = build_config(json::object(), {{"MIRRORD_FILE_LOCAL_PATTERN", "(unclosed"}});
    REQUIRE_FALSE(regex.ok());
    CHECK(regex.error().message.find("MIRRORD_FILE_LOCAL_PATTERN") != std::string::npos);
    auto ttl = build_config(json::object(), {{"MIRRORD_AGENT_TTL", "-1"}});
    CHECK_FALSE(ttl.ok());  // checked as the file's value would be
}
