// `mirrord dump -p PORT...`: prints the target's incoming traffic on those ports, mirrored (the
// target's application still answers), in mirrord's format: connections with their bytes, HTTP/1
// requests one by one.
#pragma once

#include "tracer/policy/config.hpp"

#include <vector>

namespace mrd::tracer {

// Runs until Ctrl-C or SIGTERM (0), or until the agent is lost or refuses a port (1).
int dump_command(const Config& config, const std::string& agent_address, const std::vector<uint16_t>& ports);

}  // namespace mrd::tracer
