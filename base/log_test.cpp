#include "base/log.hpp"

#include <catch2/catch.hpp>

using namespace mrd::log;

TEST_CASE("log: mirrord's RUST_LOG filters") {
    CHECK(level_from_filter("warn,mirrord=debug", Level::error) == Level::debug);
    CHECK(level_from_filter("mirrord_agent=trace", Level::warn) == Level::trace);
    CHECK(level_from_filter("info", Level::warn) == Level::info);
    CHECK(level_from_filter("INFO", Level::warn) == Level::info);
    CHECK(level_from_filter("hyper=trace,kube=debug", Level::warn) == Level::warn);  // other crates'
    CHECK(level_from_filter("error,mirrord::agent[span{id=1}]=debug", Level::warn) == Level::debug);
    CHECK(level_from_filter("mirrord", Level::warn) == Level::trace);
    CHECK(level_from_filter("off", Level::warn) == Level::error);
    CHECK(level_from_filter("", Level::info) == Level::info);
    std::string skipped;
    CHECK(level_from_filter("warn,mirrord=loud", Level::error, &skipped) == Level::warn);
    CHECK(skipped == "mirrord=loud");
}
