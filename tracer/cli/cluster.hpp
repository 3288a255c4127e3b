// Kubernetes targets for the CLI: resolve the target, start the agent next to it, port-forward.
#pragma once

#include "k8s/port_forward.hpp"
#include "tracer/policy/config.hpp"

#include <asio.hpp>

#include <optional>

namespace mrd::tracer {

struct ClusterAgent {
    std::string address;      // local, through the port-forward (which must outlive the session)
    std::string fingerprint;  // the agent's, from its ready line
};
// client_fingerprint: this session's certificate, the only one the agent will accept.
Result<ClusterAgent> start_cluster_agent(const Config& config, asio::io_context& io, std::optional<k8s::PortForward>& forward,
                                         const std::string& client_fingerprint);

// `mirrord ls`: the targets of the namespace, one per line (or as a JSON list).
int list_targets_command(const Config& config, bool json);

}  // namespace mrd::tracer
