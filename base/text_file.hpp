// A whole (small) file as a string: configuration, resolv.conf, hosts, auxv.
#pragma once

#include "base/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace mrd {

Result<std::string> read_file(const std::string& path);
// Where a symlink points (e.g. /proc/PID/exe: the program a process runs).
Result<std::string> read_link(const std::string& path);

// ASCII lower case (names, keywords, header names).
std::string to_lower(std::string text);
// A whole decimal integer ("42", "-1"); nothing for "", "4x" or out of range.
std::optional<long long> to_integer(std::string_view text);

}  // namespace mrd
