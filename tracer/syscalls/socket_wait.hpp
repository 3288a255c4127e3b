// Waiting, on the supervisor's event loop, for a socket of the program to become ready, on behalf
// of a thread blocked in an emulated syscall (recvfrom, accept, sendto...).
#pragma once

#include "tracer/ptrace/notified_call.hpp"
#include "base/co.hpp"

#include <asio.hpp>

#include <chrono>
#include <optional>

namespace mrd::tracer {

enum class Readiness { ready, timed_out, abandoned };

// ready: readable (or writable), or in error; timed_out: timeout passed (SO_RCVTIMEO/SO_SNDTIMEO);
// abandoned: the thread stopped waiting (a signal interrupted the call; a restart asks anew).
co::Task<Readiness> wait_ready(asio::io_context& io, const Call& call, int socket, bool writable,
                               std::optional<std::chrono::milliseconds> timeout);

// SO_RCVTIMEO or SO_SNDTIMEO of a socket; nullopt for none.
std::optional<std::chrono::milliseconds> socket_timeout(int socket, int option);
bool is_nonblocking(int fd);

}  // namespace mrd::tracer
