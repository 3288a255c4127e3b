// The target's incoming traffic for a port, sent to the agent instead: nftables NAT redirects in a
// table of the agent's own ("mirrord_<pid>", family inet), for traffic arriving from outside
// (prerouting) and from the target itself over loopback (output). The agent's own connections to
// the real application carry kBypassMark and are left alone. The table goes when the agent exits,
// when a guard process sees it die, and at the next agent's start if both failed.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

struct nft_ctx;

namespace mrd::agent {

class RedirectRules {
public:
    static constexpr uint32_t kBypassMark = 0x4d52444d;  // "MRDM"

    // Creates the agent's table, after deleting tables of agents no longer running.
    static Result<std::unique_ptr<RedirectRules>> create(pid_t owner);
    ~RedirectRules();

    // Makes the table redirect exactly these ports (target port -> agent's port), atomically.
    Status apply(const std::map<uint16_t, uint16_t>& redirects);
    static Status remove_table(pid_t owner);
    static std::string table_name(pid_t owner) { return "mirrord_" + std::to_string(owner); }

private:
    explicit RedirectRules(pid_t owner);
    static Status run(const std::string& commands);
    pid_t owner_;
};

}  // namespace mrd::agent
