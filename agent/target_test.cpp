#include "agent/target.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace mrd::agent;
namespace fs = std::filesystem;

TEST_CASE("target: a container's process is found by its cgroup") {
    fs::path proc = fs::temp_directory_path() / ("mrd-proc-" + std::to_string(::getpid()));
    auto process = [&](int pid, const std::string& cgroup) {
        fs::create_directories(proc / std::to_string(pid));
        std::ofstream(proc / std::to_string(pid) / "cgroup") << cgroup;
    };
    std::string id = "4f1e0c3a9b7d2e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f";
    process(1, "0::/init.scope\n");
    process(812, "0::/kubepods.slice/kubepods-pod123.slice/cri-containerd-" + id + ".scope\n");
    process(640, "0::/kubepods.slice/kubepods-pod123.slice/cri-containerd-" + id + ".scope\n");
    process(700, "0::/kubepods.slice/kubepods-pod123.slice/cri-containerd-ffffffffffffffff.scope\n");
    fs::create_directories(proc / "self");
    auto pid = find_container_pid("containerd://" + id, proc);
    REQUIRE(pid.ok());
    CHECK(*pid == 640);
    CHECK(find_container_pid("docker://" + id, proc).value() == 640);
    CHECK_FALSE(find_container_pid("containerd://0123456789abcdef0123", proc).ok());
    CHECK_FALSE(find_container_pid("short", proc).ok());
    fs::remove_all(proc);
}
