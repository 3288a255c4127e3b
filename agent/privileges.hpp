// What the agent keeps once it is inside the target: the capabilities its work needs from then on
// (changing redirect rules, reading the target's environment and any file of its root, writing them
// in write mode), no others, in any process it runs either (the bounding set), and no way back up
// (no_new_privs). setns is done by then, so CAP_SYS_ADMIN is among what goes.
#pragma once

#include "base/result.hpp"

#include <linux/capability.h>

#include <vector>

namespace mrd::agent {

inline const std::vector<int> kCapabilitiesKept = {CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
                                                   CAP_FOWNER, CAP_CHOWN};

// Drops every other capability (effective, permitted, inheritable and bounding) and sets
// no_new_privs. Capabilities the process never had are no error.
Status drop_privileges(const std::vector<int>& keep = kCapabilitiesKept);

}  // namespace mrd::agent
