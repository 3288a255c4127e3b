// What the supervisor tells a debugger (the GDB server) about the process it debugs.
#pragma once

#include "tracer/ptrace/tracee.hpp"

#include <memory>

namespace mrd::tracer {

class Debugger {
public:
    virtual ~Debugger() = default;
    virtual bool debugs(const Tracee& t) const = 0;
    // The program has just been exec'd and is stopped at its first instruction.
    virtual void on_program_started(std::shared_ptr<Tracee> main) = 0;
    // A signal or job-control stop of a debugged thread; true when the debugger keeps it.
    virtual bool on_stop(std::shared_ptr<Tracee> t, const Stop& stop) = 0;
    // A new thread of the debugged process, at its first stop; true when the debugger keeps it stopped.
    virtual bool on_new_thread(const Tracee& t) = 0;
    // A debugged thread entered a trapped syscall (its handler now owns it).
    virtual void on_syscall(const Tracee& t) = 0;
    virtual void on_exited(const Tracee& t, const Stop& stop) = 0;
    // A signal from outside (mirrord was sent SIGTERM) went to the program.
    virtual void on_signal_forwarded(int signo) = 0;
};

}  // namespace mrd::tracer
