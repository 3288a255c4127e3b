#include "base/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

using namespace mrd;
namespace fs = std::filesystem;

TEST_CASE("temp dirs: a dead maker's directory is swept, a live one's is kept") {
    auto root = make_temp_dir("mrd-sweep-test");
    REQUIRE(root);
    ::setenv("TMPDIR", root->c_str(), 1);
    auto mine = make_temp_dir("mirrord-live");
    REQUIRE(mine);
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    pid_t child = ::fork();
    if (child == 0) {  // makes one and dies, as a killed session would
        auto gone = make_temp_dir("mirrord-dead");
        ssize_t ignored = ::write(pipe_fds[1], gone ? gone->c_str() : "", gone ? gone->size() : 0);
        (void)ignored;
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    char buf[512] = {};
    ssize_t n = ::read(pipe_fds[0], buf, sizeof buf - 1);
    ::close(pipe_fds[0]);
    ::waitpid(child, nullptr, 0);
    std::string dead(buf, n > 0 ? static_cast<size_t>(n) : 0);
    REQUIRE(fs::is_directory(dead));

    CHECK(fs::path(*mine).filename().string().rfind("mirrord-live-", 0) == 0);
    REQUIRE(fs::create_directory(*root + "/mirrord-dead-by-another-tool"));  // not one of ours
    REQUIRE(fs::create_directory(*root + "/.mirrord-dead-123456"));  // half made: maybe not locked yet
    CHECK(sweep_stale_temp_dirs({"mirrord-live", "mirrord-dead"}) == 1);
    CHECK(fs::is_directory(*root + "/mirrord-dead-by-another-tool"));
    CHECK(fs::is_directory(*root + "/.mirrord-dead-123456"));
    CHECK_FALSE(fs::exists(dead));
    CHECK(fs::is_directory(*mine));  // we still live: locked
    fs::last_write_time(*root + "/.mirrord-dead-123456", fs::file_time_type::clock::now() - std::chrono::minutes(2));
    CHECK(sweep_stale_temp_dirs({"mirrord-dead"}) == 1);  // half made a while ago: left over
    CHECK_FALSE(fs::exists(*root + "/.mirrord-dead-123456"));
    ::unsetenv("TMPDIR");
    fs::remove_all(*root);
}
