// `mirrord port-forward`, without a program:
//   -L [local_port:]host:remote_port  connections to 127.0.0.1:local_port are made from the target
//                                     to host:remote_port (a host name is resolved in the target,
//                                     for each connection);
//   -R [remote_port:]local_port       the target's remote_port is stolen or mirrored (the incoming
//                                     config: mode, http_filter) to 127.0.0.1:local_port.
#pragma once

#include "tracer/policy/config.hpp"

#include <string>
#include <vector>

namespace mrd::tracer {

struct LocalForward {
    uint16_t local_port = 0;
    std::string host;
    uint16_t remote_port = 0;
};
struct RemoteForward {
    uint16_t remote_port = 0;
    uint16_t local_port = 0;
};

Result<LocalForward> parse_local_forward(const std::string& spec);
Result<RemoteForward> parse_remote_forward(const std::string& spec);

// Runs until Ctrl-C or SIGTERM (0), or until the agent is lost (1).
int port_forward_command(const Config& config, const std::string& agent_address, const std::vector<LocalForward>& local,
                         const std::vector<RemoteForward>& remote);

}  // namespace mrd::tracer
