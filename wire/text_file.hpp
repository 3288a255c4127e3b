// A whole (small) file as a string: configuration, resolv.conf, hosts, auxv.
#pragma once

#include "wire/result.hpp"

#include <string>

namespace mrd::wire {

Result<std::string> read_file(const std::string& path);

}  // namespace mrd::wire
