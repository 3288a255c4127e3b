// The agent a session talks to: one given by address (--agent), one started here next to a local
// target (pid/N, container/NAME, targetless), or one started in a cluster and reached through a
// port-forward. Whatever was started lives as long as this object.
#pragma once

#include "k8s/port_forward.hpp"
#include "tracer/config.hpp"
#include "tracer/local_agent.hpp"

#include <asio.hpp>

#include <optional>

namespace mrd::tracer {

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
