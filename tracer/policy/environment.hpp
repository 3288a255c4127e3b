// The environment the program starts with: the local one, overlaid with the target's (filtered as
// mirrord filters it), then env_file, mapping and override, minus unset.
#pragma once

#include "tracer/policy/config.hpp"

#include <map>
#include <string>
#include <vector>

namespace mrd::tracer {

using EnvMap = std::map<std::string, std::string>;

// '*' matches any run of characters, '?' exactly one.
bool wildcard_match(const std::string& pattern, const std::string& text);
// Variables that always stay local (PATH, HOME, ...), as in mirrord.
bool always_local(const std::string& name);
// A .env file: KEY=VALUE lines, optional "export ", quotes, '#' comments.
Result<EnvMap> read_env_file(const std::string& path);
Result<EnvMap> parse_env_text(const std::string& text);

Result<EnvMap> merge_environment(const EnvConfig& config, const EnvMap& local, const EnvMap& remote);
EnvMap current_environment();
std::vector<std::string> to_envp(const EnvMap& env);

}  // namespace mrd::tracer
