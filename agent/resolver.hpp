// Name resolution as the target does it: its /etc/hosts first, then DNS with the nameservers, search
// domains and ndots of its /etc/resolv.conf, from inside its network namespace (c-ares).
#pragma once

#include "wire/resolv_conf.hpp"
#include "base/result.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace mrd::agent {

using wire::ResolvConf;
using wire::parse_resolv_conf;

// Addresses the hosts file gives name (case-insensitive), filtered by family (0, 4 or 6).
std::vector<std::string> hosts_lookup(std::string_view hosts, std::string_view name, int family);

class Resolver {
public:
    explicit Resolver(int root_fd) : root_fd_(root_fd) {}
    // Blocking; safe to call from several threads at once. ENOENT when the name does not exist.
    Result<std::vector<std::string>> lookup(const std::string& name, int family) const;

private:
    int root_fd_;
};

}  // namespace mrd::agent
