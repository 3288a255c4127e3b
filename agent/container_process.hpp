// Finding a container's main process among a node's processes (the agent runs with hostPID, or in
// the target pod's PID namespace as an ephemeral container) from the container id the pod's status
// gives. Only the cgroup the runtime makes for the container counts: never the runtime's own
// helpers (CRI-O's conmon lives in crio-conmon-<id>.scope, in the host's namespaces).
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace mrd::agent {

// "containerd://<id>", "cri-o://<id>", "docker://<id>" or a bare id, without the scheme.
Result<std::string> container_id_of(const std::string& status_id);

// Whether a /proc/PID/cgroup text puts the process in the container's own cgroup, on cgroup v1 or
// v2, with the systemd or cgroupfs driver, for containerd (cri-containerd-<id>.scope, .../<id>),
// CRI-O (crio-<id>.scope, crio-<id>), docker (docker-<id>.scope, /docker/<id>) and podman
// (libpod-<id>.scope), including cgroups the container made below its own.
bool cgroup_names_container(const std::string& cgroup_text, const std::string& id);

// The container's init: among its processes, the one whose innermost PID is 1 (NSpid), else the
// one whose parent is not in the container, else the oldest. Refuses a process that shares PID 1's
// mount namespace (a runtime helper in the host's namespaces, were it ever matched).
Result<pid_t> find_container_pid(const std::string& container_id, const std::string& proc_root = "/proc");

}  // namespace mrd::agent
