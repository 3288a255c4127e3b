#include "k8s/json_subset.hpp"

#include <catch2/catch.hpp>

using namespace mrd::k8s;
using nlohmann::json;

TEST_CASE("json subset: only the wanted paths, with what leads to them") {
    std::string list = R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[
        {"metadata":{"name":"a","labels":{"app":"x"}},"spec":{"containers":[{"name":"c1","image":"i"},{"name":"c2"}]},
         "status":{"phase":"Running","conditions":[{"type":"Ready"}]}},
        {"metadata":{"name":"b","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"containers":[]},"status":{"phase":"Pending"}}]})";
    auto got = parse_subset(list, {"/items/*/metadata/name", "/items/*/metadata/deletionTimestamp",
                                   "/items/*/spec/containers/*/name", "/items/*/status/phase"});
    CHECK(got == json::parse(R"({"items":[
        {"metadata":{"name":"a"},"spec":{"containers":[{"name":"c1"},{"name":"c2"}]},"status":{"phase":"Running"}},
        {"metadata":{"name":"b","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"containers":[]},"status":{"phase":"Pending"}}]})"));
}

TEST_CASE("json subset: a path keeps its whole subtree; scalars on the way are dropped") {
    auto got = parse_subset(R"({"a":{"b":[1,{"c":null}],"d":true},"e":1.5,"items":3})", {"/a", "/items/*/x"});
    CHECK(got == json::parse(R"({"a":{"b":[1,{"c":null}],"d":true}})"));
}

TEST_CASE("json subset: no paths or the root path keep everything; bad JSON throws as json::parse") {
    std::string doc = R"({"x":[1,2,{"y":"z"}],"n":-4})";
    CHECK(parse_subset(doc, {""}) == json::parse(doc));
    CHECK(parse_subset(doc, {}) == json::parse(doc));
    CHECK(parse_subset("[1,2]", {"/*"}) == json::parse("[1,2]"));
    CHECK_THROWS_AS(parse_subset(R"({"x":)", {"/x"}), json::parse_error);
}

TEST_CASE("json subset: skipped strings with escaped quotes and brackets, escaped keys") {
    auto got = parse_subset(R"({"skip":"a \"}]\\", "x\"y": {"k\u0041": [ "v\\" ] }, "n": {"a":[{"b":"]"}]}})",
                            {"/x\"y/kA", "/n/a/*/b"});
    CHECK(got == json::parse(R"({"x\"y":{"kA":["v\\"]},"n":{"a":[{"b":"]"}]}})"));
    CHECK_THROWS_AS(parse_subset(R"({"skip":"unterminated})", {"/x"}), json::parse_error);
    CHECK_THROWS_AS(parse_subset(R"({"a":1} extra)", {"/a"}), json::parse_error);
}
