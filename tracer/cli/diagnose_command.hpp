// `mirrord diagnose latency`: round trips to the session's agent (through the port-forward, for a
// cluster target), as mirrord measures them: one warm-up ping, then 100.
#pragma once

#include "tracer/policy/config.hpp"

namespace mrd::tracer {

int diagnose_latency(const Config& config, const std::string& agent_address);

}  // namespace mrd::tracer
