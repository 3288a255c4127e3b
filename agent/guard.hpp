// A small process that outlives the agent just long enough to remove its redirect rules, whatever
// killed it (SIGKILL included): the target's traffic must never stay redirected to a dead agent.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

namespace mrd::agent {

// Call after entering the target's network namespace and before starting any thread.
Status start_guard(pid_t agent);

}  // namespace mrd::agent
