// A resolved configuration written back in mirrord's file format, every default filled in
// (`mirrord verify-config --resolved`). Reading it back gives the same configuration.
#pragma once

#include "tracer/policy/config.hpp"

namespace mrd::tracer {

nlohmann::json resolved_config(const Config& config);

// target.path as mirrord's verify-config prints it: {"deployment": "x", "container": null},
// "targetless", or null when none is set.
nlohmann::json target_object(const std::string& path);

}  // namespace mrd::tracer
