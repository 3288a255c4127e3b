// The command line as mirrord's: the options every session command shares (target, agent,
// kubeconfig, config file), mirrord's spellings of optional values, and how flags rank above
// MIRRORD_* variables, which rank above the config file.
#pragma once

#include "tracer/policy/config.hpp"

#include <cxxopts.hpp>

#include <string>
#include <vector>

namespace mrd::tracer {

inline constexpr const char* kDefaultConfigFile = "./.mirrord/mirrord.json";  // -f without a value, as mirrord

// -t, -n, -f, --agent, -a, -i, -l, --agent-ttl, --agent-startup-timeout, -e, --context,
// --kubeconfig, -c, --no-telemetry, --disable-version-check, --log-level, -h.
void add_session_options(cxxopts::Options& options);

struct ParsedCommand {
    cxxopts::ParseResult options;
    std::vector<std::string> rest;  // exec: the program and its arguments
};
// Parses argv[first..]: options up to the first word that is not one (or "--"), the rest after.
// -c takes a value only with "=" (as mirrord's require_equals); -f also takes the next word.
Result<ParsedCommand> parse_command(cxxopts::Options& options, int argc, char** argv, int first);

// The shared flags' own values (--log-level, which it applies, and -c=BOOL): a usage error if bad.
Status check_session_flags(const cxxopts::ParseResult& parsed);
// The configuration for a session: the file (-f, else MIRRORD_CONFIG_FILE), MIRRORD_* variables,
// then the shared flags.
Result<Config> session_config(const cxxopts::ParseResult& parsed);
std::string agent_flag(const cxxopts::ParseResult& parsed);  // --agent, or empty

}  // namespace mrd::tracer
