// `mirrord exec`: runs a command under the supervisor in the context of the target.
#pragma once

#include "tracer/policy/config.hpp"

#include <string>
#include <vector>

namespace mrd::tracer {

struct ExecOptions {
    Config config;
    std::string agent_address;          // connect to this agent instead of starting one
    std::vector<std::string> command;   // argv of the program
    std::string gdbserver;              // "HOST:PORT": serve the GDB remote protocol there
    bool gdb = false;                   // start gdb in this terminal, connected to it
    std::string debug_child;            // debug the first process running a program of this name instead
    std::string events_file;            // --events: what the session does, as JSON lines
};

struct ExitStatus {
    int code = 0;    // what the shell should see ($?)
    int signal = 0;  // non-zero: the program was killed by it
};

ExitStatus exec_command(const ExecOptions& options);
// Exits this process as status describes (re-raising a fatal signal).
[[noreturn]] void exit_like(const ExitStatus& status);

}  // namespace mrd::tracer
