// Helper processes of the CLI (a local agent, gdb): started with the default signal state, since the
// CLI itself blocks some signals and ignores SIGPIPE.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace mrd::tracer {

// in_child runs between fork and exec (async-signal-safe calls only).
Result<pid_t> spawn_process(const std::vector<std::string>& args, const std::function<void()>& in_child = {});
// Runs args (an argv: no shell ever sees its words) and returns what it printed on stdout, if it
// exited with 0; its stderr is dropped.
Result<std::string> run_for_output(const std::vector<std::string>& args);

}  // namespace mrd::tracer
