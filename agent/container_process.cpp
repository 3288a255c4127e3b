#include "agent/container_process.hpp"

#include "base/text_file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

namespace mrd::agent {

namespace {

bool all_digits(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); }

// The value of a "Key:\tv1\tv2" line of /proc/PID/status, split on whitespace.
std::vector<std::string> status_field(const std::string& status, const std::string& key) {
    std::istringstream lines(status);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(key + ":", 0) != 0) continue;
        std::istringstream values(line.substr(key.size() + 1));
        std::vector<std::string> out;
        for (std::string v; values >> v;) out.push_back(v);
        return out;
    }
    return {};
}

// Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot.
unsigned long long start_time(const std::string& stat) {
    auto close = stat.rfind(')');  // the command name may contain spaces and parentheses
    if (close == std::string::npos) return 0;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
    return 0;
}

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {}, sb {};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

struct Candidate {
    pid_t pid;
    pid_t parent;
    bool namespace_init;  // its innermost PID is 1
    unsigned long long started;
};

}  // namespace

Result<std::string> container_id_of(const std::string& status_id) {
    std::string id = status_id;
    if (auto scheme = id.find("://"); scheme != std::string::npos) id = id.substr(scheme + 3);
    if (id.size() < 12 || !std::all_of(id.begin(), id.end(), ::isxdigit))
        return Error::msg("container id '" + status_id + "' is not a runtime's container id", EINVAL);
    return id;
}

bool cgroup_names_container(const std::string& cgroup_text, const std::string& id) {
    static const char* const prefixes[] = {"", "cri-containerd-", "crio-", "docker-", "libpod-"};
    std::istringstream lines(cgroup_text);
    for (std::string line; std::getline(lines, line);) {
        // "hierarchy-ID:controllers:path"; the path may itself contain ':'.
        auto first = line.find(':');
        auto second = first == std::string::npos ? first : line.find(':', first + 1);
        if (second == std::string::npos) continue;
        std::istringstream components(line.substr(second + 1));
        for (std::string c; std::getline(components, c, '/');) {
            if (c.size() > 6 && c.compare(c.size() - 6, 6, ".scope") == 0) c.resize(c.size() - 6);
            for (const char* prefix : prefixes)
                if (c == prefix + id) return true;
        }
    }
    return false;
}

Result<pid_t> find_container_pid(const std::string& container_id, const std::string& proc_root) {
    auto id = container_id_of(container_id);
    if (!id) return id.error();
    std::vector<Candidate> found;
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator(proc_root, ec)) {
        std::string name = entry.path().filename();
        if (!all_digits(name)) continue;
        auto cgroup = read_file(entry.path() / "cgroup");
        if (!cgroup || !cgroup_names_container(*cgroup, *id)) continue;
        auto status = read_file(entry.path() / "status").value_or("");
        auto nspid = status_field(status, "NSpid");
        auto ppid = status_field(status, "PPid");
        found.push_back({static_cast<pid_t>(std::stol(name)), ppid.empty() ? 0 : static_cast<pid_t>(std::stol(ppid[0])),
                         nspid.size() > 1 && nspid.back() == "1",
                         start_time(read_file(entry.path() / "stat").value_or(""))});
    }
    if (found.empty())
        return Error::msg("no process of container " + container_id + " here (is the agent running with hostPID, or in the target's pod?)", ESRCH);
    std::set<pid_t> members;
    for (auto& c : found) members.insert(c.pid);
    auto rank = [&](const Candidate& c) {
        // Lower is better: the namespace's init, then a process whose parent is outside, then age.
        return std::make_tuple(c.namespace_init ? 0 : 1, members.count(c.parent) ? 1 : 0, c.started, c.pid);
    };
    auto best = *std::min_element(found.begin(), found.end(), [&](auto& a, auto& b) { return rank(a) < rank(b); });
    std::string proc = proc_root + "/" + std::to_string(best.pid);
    if (best.pid != 1 && same_file(proc + "/ns/mnt", proc_root + "/1/ns/mnt"))
        return Error::msg("pid " + std::to_string(best.pid) + " of container " + container_id +
                          " shares the node's mount namespace: it is not the container's process", EPERM);
    return best.pid;
}

}  // namespace mrd::agent
