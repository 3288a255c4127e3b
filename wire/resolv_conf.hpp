// /etc/resolv.conf as the resolver reads it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mrd::wire {

struct ResolvConf {
    std::vector<std::string> nameservers;
    std::vector<std::string> search;
    int ndots = 1;
    int timeout_s = 5;
    int attempts = 2;
};

ResolvConf parse_resolv_conf(std::string_view text);

}  // namespace mrd::wire
