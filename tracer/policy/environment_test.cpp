#include "tracer/policy/environment.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;

TEST_CASE("env: wildcards") {
    CHECK(wildcard_match("DB_*", "DB_HOST"));
    CHECK(wildcard_match("DB_*", "DB_"));
    CHECK_FALSE(wildcard_match("DB_*", "XDB_HOST"));
    CHECK(wildcard_match("A?C", "ABC"));
    CHECK_FALSE(wildcard_match("A?C", "AC"));
    CHECK(wildcard_match("*", "anything"));
    CHECK(wildcard_match("*_URL*", "DATABASE_URL"));
}

TEST_CASE("env: remote overlays local, minus the always-local variables") {
    EnvMap local{{"PATH", "/local/bin"}, {"HOME", "/home/me"}, {"LOCAL_ONLY", "1"}, {"SHARED", "local"}};
    EnvMap remote{{"PATH", "/remote/bin"}, {"HOME", "/root"}, {"SHARED", "remote"}, {"DB_URL", "pg://x"}};
    auto env = merge_environment(EnvConfig{}, local, remote);
    REQUIRE(env.ok());
    CHECK(env->at("PATH") == "/local/bin");
    CHECK(env->at("HOME") == "/home/me");
    CHECK(env->at("SHARED") == "remote");
    CHECK(env->at("DB_URL") == "pg://x");
    CHECK(env->at("LOCAL_ONLY") == "1");
}

TEST_CASE("env: include, exclude, override, unset, mapping, disabled") {
    EnvMap local{{"AWS_PROFILE", "dev"}};
    EnvMap remote{{"DB_URL", "pg://x"}, {"DB_PASS", "secret"}, {"API_TIMEOUT", "5"}, {"PATH", "/remote"}};
    EnvConfig c;
    c.include = {"DB_*", "PATH"};
    auto env = merge_environment(c, local, remote);
    CHECK(env->count("DB_URL") == 1);
    CHECK(env->count("API_TIMEOUT") == 0);
    CHECK(env->at("PATH") == "/remote");  // explicitly included

    c = EnvConfig{};
    c.exclude = {"DB_PASS"};
    c.override_vars = {{"DB_URL", "pg://local"}};
    c.unset = {"aws_profile"};
    c.mapping = {{".+_TIMEOUT", "1000"}};
    env = merge_environment(c, local, remote);
    CHECK(env->count("DB_PASS") == 0);
    CHECK(env->at("DB_URL") == "pg://local");
    CHECK(env->count("AWS_PROFILE") == 0);
    CHECK(env->at("API_TIMEOUT") == "1000");

    c = EnvConfig{};
    c.enabled = false;
    env = merge_environment(c, local, remote);
    CHECK(env->count("DB_URL") == 0);
}

TEST_CASE("env: .env files") {
    auto env = parse_env_text("# comment\nexport A=1\nB = \"two\\nlines\"\nC='single # not a comment'\nD=plain # comment\n\n");
    REQUIRE(env.ok());
    CHECK(env->at("A") == "1");
    CHECK(env->at("B") == "two\nlines");
    CHECK(env->at("C") == "single # not a comment");
    CHECK(env->at("D") == "plain");
    CHECK_FALSE(parse_env_text("NOVALUE\n").ok());
    CHECK_FALSE(parse_env_text("A=\"unclosed\n").ok());
}
