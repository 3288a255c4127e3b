#include "agent/container_process.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace mrd::agent;
namespace fs = std::filesystem;

namespace {

const std::string kId = "4f1e0c3a9b7d2e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f";

// A /proc of fixtures: each process with its cgroup, NSpid, parent and start time.
struct FakeProc {
    fs::path root = fs::temp_directory_path() / ("mrd-proc-" + std::to_string(::getpid()));
    FakeProc() { fs::remove_all(root); }
    ~FakeProc() { fs::remove_all(root); }
    void process(int pid, const std::string& cgroup, const std::string& nspid = "", int ppid = 1, int started = 100) {
        auto dir = root / std::to_string(pid);
        fs::create_directories(dir / "ns");
        std::ofstream(dir / "cgroup") << cgroup;
        std::ofstream(dir / "status") << "Name:\tx\nPPid:\t" << ppid << "\nNSpid:\t" << pid << (nspid.empty() ? "" : "\t" + nspid) << "\n";
        std::ofstream(dir / "stat") << pid << " (a (b) c) S " << ppid << " 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 " << started << " 0 0\n";
    }
    mrd::Result<pid_t> find(const std::string& id = "containerd://" + kId) { return find_container_pid(id, root); }
};

}  // namespace

TEST_CASE("container process: each runtime's cgroup layout names the container") {
    const std::string& id = kId;
    // cgroup v2, systemd driver: containerd, CRI-O, docker, podman.
    CHECK(cgroup_names_container("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-" + id + ".scope\n", id));
    CHECK(cgroup_names_container("0::/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope\n", id));
    CHECK(cgroup_names_container("0::/system.slice/docker-" + id + ".scope\n", id));
    CHECK(cgroup_names_container("0::/machine.slice/libpod-" + id + ".scope/container\n", id));
    // cgroupfs driver (k3s, kind, minikube): the bare id, or crio-<id>, or /docker/<id>.
    CHECK(cgroup_names_container("0::/kubepods/besteffort/pod1/" + id + "\n", id));
    CHECK(cgroup_names_container("0::/kubepods/burstable/pod1/crio-" + id + "\n", id));
    CHECK(cgroup_names_container("0::/docker/" + id + "\n", id));
    // cgroup v1: one line per hierarchy.
    CHECK(cgroup_names_container("12:pids:/kubepods/burstable/pod1/" + id + "\n11:cpu,cpuacct:/kubepods/burstable/pod1/" + id + "\n", id));
    CHECK(cgroup_names_container("5:name=systemd:/kubepods.slice/kubepods-pod1.slice/docker-" + id + ".scope\n", id));
    // Seen from inside a cgroup namespace (an ephemeral agent): relative to its own cgroup.
    CHECK(cgroup_names_container("0::/../cri-containerd-" + id + ".scope\n", id));
    // A cgroup the container made below its own (systemd inside the container).
    CHECK(cgroup_names_container("0::/kubepods.slice/cri-containerd-" + id + ".scope/init.scope\n", id));

    // Never the runtime's helpers, another container, or a mere mention of the id.
    CHECK_FALSE(cgroup_names_container("0::/kubepods.slice/kubepods-pod1.slice/crio-conmon-" + id + ".scope\n", id));
    CHECK_FALSE(cgroup_names_container("0::/kubepods/burstable/pod1/crio-conmon-" + id + "\n", id));
    CHECK_FALSE(cgroup_names_container("0::/system.slice/containerd.service\n", id));
    CHECK_FALSE(cgroup_names_container("0::/kubepods/pod1/" + id + "0\n", id));
    CHECK_FALSE(cgroup_names_container("0::/kubepods/pod1/x-" + id + "\n", id));
    CHECK_FALSE(cgroup_names_container("", id));
}

TEST_CASE("container process: the container's init, not the lowest pid, and never conmon") {
    FakeProc proc;
    proc.process(1, "0::/init.scope\n", "", 0);
    // CRI-O: conmon (lower pid, host namespaces) supervises the container's init.
    proc.process(300, "0::/kubepods.slice/kubepods-pod1.slice/crio-conmon-" + kId + ".scope\n", "", 1, 50);
    proc.process(310, "0::/kubepods.slice/kubepods-pod1.slice/crio-" + kId + ".scope\n", "1", 300, 51);
    proc.process(305, "0::/kubepods.slice/kubepods-pod1.slice/crio-" + kId + ".scope\n", "7", 310, 60);
    CHECK(proc.find("cri-o://" + kId).value() == 310);
}

TEST_CASE("container process: after pid wrap-around the init may have the higher pid") {
    FakeProc proc;
    proc.process(1, "0::/init.scope\n", "", 0);
    proc.process(32000, "0::/kubepods/pod1/" + kId + "\n", "1", 31990, 10);
    proc.process(12, "0::/kubepods/pod1/" + kId + "\n", "40", 32000, 900);
    CHECK(proc.find().value() == 32000);
}

TEST_CASE("container process: in a shared PID namespace (no NSpid 1) the process whose parent is outside") {
    FakeProc proc;
    proc.process(1, "0::/init.scope\n", "", 0);
    proc.process(50, "0::/kubepods/pod1/" + std::string(64, 'a') + "\n", "1", 40, 5);  // pause
    proc.process(900, "0::/kubepods/pod1/" + kId + "\n", "9", 880, 80);  // the app's child, older by wrap-around ids
    proc.process(880, "0::/kubepods/pod1/" + kId + "\n", "8", 40, 70);   // the app
    proc.process(870, "0::/kubepods/pod1/" + kId + "\n", "12", 880, 90);
    CHECK(proc.find().value() == 880);
}

TEST_CASE("container process: a process in the node's mount namespace is refused") {
    FakeProc proc;
    proc.process(1, "0::/init.scope\n", "", 0);
    proc.process(400, "0::/docker/" + kId + "\n", "", 1);
    std::ofstream(proc.root / "1" / "ns" / "mnt") << "host";
    fs::create_symlink(proc.root / "1" / "ns" / "mnt", proc.root / "400" / "ns" / "mnt");
    auto found = proc.find("docker://" + kId);
    REQUIRE_FALSE(found.ok());
    CHECK(found.error().message.find("mount namespace") != std::string::npos);
}

TEST_CASE("container process: bad or unknown ids") {
    FakeProc proc;
    proc.process(1, "0::/init.scope\n", "", 0);
    CHECK_FALSE(proc.find("containerd://0123456789abcdef0123").ok());
    CHECK_FALSE(proc.find("short").ok());
    CHECK_FALSE(proc.find("containerd://not-hex-but-long-enough").ok());
}
