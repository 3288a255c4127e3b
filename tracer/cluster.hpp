// Kubernetes targets for the CLI: resolve the target, start the agent next to it, port-forward.
#pragma once

#include "k8s/port_forward.hpp"
#include "tracer/config.hpp"

#include <asio.hpp>

#include <optional>

namespace mrd::tracer {

// The agent's local address (through the port-forward, which must outlive the session).
Result<std::string> start_cluster_agent(const Config& config, asio::io_context& io, std::optional<k8s::PortForward>& forward);

// `mirrord ls`: the targets of the namespace, one per line (or as a JSON list).
int list_targets_command(const Config& config, bool json);

}  // namespace mrd::tracer
