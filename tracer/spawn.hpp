// Helper processes of the CLI (a local agent, gdb): started with the default signal state, since the
// CLI itself blocks some signals and ignores SIGPIPE.
#pragma once

#include "wire/result.hpp"

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace mrd::tracer {

// in_child runs between fork and exec (async-signal-safe calls only).
Result<pid_t> spawn_process(const std::vector<std::string>& args, const std::function<void()>& in_child = {});

}  // namespace mrd::tracer
