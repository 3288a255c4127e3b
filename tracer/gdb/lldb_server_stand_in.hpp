// Delve, and the IDEs that drive it (GoLand, VS Code's Go extension), debug through an
// `lldb-server gdbserver [HOST]:PORT -- PROGRAM ARGS...` they start themselves; the real lldb-server
// cannot trace a program mirrord traces. `mirrord exec --dlv -- dlv ...` runs the debugger here,
// untraced, with a stand-in first on PATH: this binary, named lldb-server. The stand-in runs the
// program as `mirrord exec` with the same options would, serving the debugger the GDB remote
// protocol (in lldb's dialect) on HOST:PORT.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace mrd::tracer {

// `mirrord exec OPTIONS --dlv -- COMMAND...`: runs COMMAND (Delve) with the stand-in on PATH; the
// stand-in's programs get `mirrord exec OPTIONS`. `dlv debug|exec|test` get --backend=lldb unless
// they name a backend. Returns COMMAND's exit status.
int run_with_lldb_server_stand_in(const std::vector<std::string>& exec_options, std::vector<std::string> command);

// In the `mirrord exec --gdbserver` that the stand-in became: the debugger that started it (its pid,
// taken out of the environment), whose end is the program's end, as with the real lldb-server.
std::optional<pid_t> take_stand_in_debugger();

// This binary invoked as lldb-server.
bool invoked_as_lldb_server(const char* argv0);
int lldb_server_stand_in(int argc, char** argv);

}  // namespace mrd::tracer
