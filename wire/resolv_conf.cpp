#include "wire/resolv_conf.hpp"

#include "wire/address.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace mrd::wire {

ResolvConf parse_resolv_conf(std::string_view text) {
    ResolvConf conf;
    std::istringstream in{std::string(text)};
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> w;
        std::istringstream fields(line);
        for (std::string f; fields >> f;) w.push_back(f);
        if (w.empty() || w[0][0] == '#' || w[0][0] == ';') continue;
        if (w[0] == "nameserver" && w.size() > 1) {
            std::string ns = w[1].substr(0, w[1].find('%'));  // drop an IPv6 zone
            if (is_ip_literal(ns)) conf.nameservers.push_back(ns);
        } else if ((w[0] == "search" || w[0] == "domain") && w.size() > 1) {
            conf.search.assign(w.begin() + 1, w.end());  // the last of search/domain wins
        } else if (w[0] == "options") {
            for (size_t i = 1; i < w.size(); ++i) {
                auto colon = w[i].find(':');
                if (colon == std::string::npos) continue;
                std::string key = w[i].substr(0, colon);
                int value = std::atoi(w[i].c_str() + colon + 1);
                if (key == "ndots") conf.ndots = std::clamp(value, 0, 15);
                else if (key == "timeout") conf.timeout_s = std::clamp(value, 1, 30);
                else if (key == "attempts") conf.attempts = std::clamp(value, 1, 5);
            }
        }
    }
    return conf;
}

}  // namespace mrd::wire
