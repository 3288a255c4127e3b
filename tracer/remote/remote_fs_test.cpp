#include "tracer/remote/remote_fs.hpp"

#include <catch2/catch.hpp>

using mrd::tracer::normalize_path;

TEST_CASE("paths are normalized lexically, as the program's path strings are checked") {
    CHECK(normalize_path("/a/./b//c/../d") == "/a/b/d");
    CHECK(normalize_path("/") == "/");
    CHECK(normalize_path("") == "/");
    CHECK(normalize_path("/..") == "/");
    CHECK(normalize_path("/x/y/../../..") == "/");
    CHECK(normalize_path("/app/data/") == "/app/data");
    CHECK(normalize_path("relative/./path") == "/relative/path");
    CHECK(normalize_path("/a/..b/.c") == "/a/..b/.c");
}
