#include "base/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

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

    REQUIRE(fs::create_directory(*root + "/mirrord-dead-by-another-tool"));  // not one of ours
    CHECK(sweep_stale_temp_dirs({"mirrord-live", "mirrord-dead"}) == 0);  // too young to tell
    CHECK(sweep_stale_temp_dirs({"mirrord-live", "mirrord-dead"}, std::chrono::seconds(0)) == 1);
    CHECK(fs::is_directory(*root + "/mirrord-dead-by-another-tool"));
    CHECK_FALSE(fs::exists(dead));
    CHECK(fs::is_directory(*mine));  // we still live: locked
    ::unsetenv("TMPDIR");
    fs::remove_all(*root);
}
