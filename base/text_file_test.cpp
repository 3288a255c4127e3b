#include "base/text_file.hpp"

#include <catch2/catch.hpp>

using namespace mrd;

TEST_CASE("text: whole decimal integers only") {
    CHECK(to_integer("42") == 42);
    CHECK(to_integer("-1") == -1);
    CHECK_FALSE(to_integer(""));
    CHECK_FALSE(to_integer("4x"));
    CHECK_FALSE(to_integer(" 4"));
    CHECK_FALSE(to_integer("99999999999999999999"));
}

TEST_CASE("text: ASCII lower case") {
    CHECK(to_lower("MiXeD-Case_1") == "mixed-case_1");
}
