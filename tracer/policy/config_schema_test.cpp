// Every key of mirrord's configuration schema, in every shape it accepts (tracer/testdata, made by
// scripts/mirrord-schema-samples from mirrord 3.250's mirrord-schema.json), is accepted: used, or
// ignored with one warning that names it. Never refused.
#include "tracer/policy/config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
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
