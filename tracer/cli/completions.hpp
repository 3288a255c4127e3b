// `mirrord completions bash|zsh|fish`: a completion script for the shell, from the commands' own
// option tables, so it never disagrees with the parser.
#pragma once

#include <cxxopts.hpp>

#include <string>
#include <vector>

namespace mrd::tracer {

struct CommandOptions {
    std::string name;               // "exec", "ls", ...
    const cxxopts::Options* options;  // null: no options of its own
};

// The script, or an empty string for a shell it does not know.
std::string completion_script(const std::string& shell, const std::vector<CommandOptions>& commands);

}  // namespace mrd::tracer
