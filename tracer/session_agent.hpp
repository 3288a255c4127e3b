// The agent a session talks to: one given by address (--agent), one started here next to a local
// target (pid/N, container/NAME, targetless), or one started in a cluster and reached through a
// port-forward. Whatever was started lives as long as this object.
#pragma once

#include "k8s/port_forward.hpp"
#include "tracer/config.hpp"
#include "tracer/local_agent.hpp"

#include <asio.hpp>

#include <functional>
#include <optional>

namespace mrd::tracer {

// Ctrl-C, SIGTERM and SIGHUP for commands without a program (diagnose, port-forward, dump): held
// from construction, so that a cluster agent's start notices them and cleans up, then handed to
// the event loop by on_stop().
class StopSignals {
public:
    explicit StopSignals(asio::io_context& io);
    void on_stop(std::function<void()> handler);

private:
    asio::signal_set signals_;
};

class SessionAgent {
public:
    // The address to connect to. given: the user's --agent, if any.
    Result<std::string> start(const Config& config, const std::string& given, asio::io_context& io);
    std::optional<LocalAgent>& local() { return local_; }

private:
    std::optional<LocalAgent> local_;
    std::optional<k8s::PortForward> forward_;  // holds the cluster agent's lease too
};

}  // namespace mrd::tracer
