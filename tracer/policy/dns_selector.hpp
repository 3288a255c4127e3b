// feature.network.dns.filter: which DNS questions the target's nameserver answers and which ours.
// mirrord filters getaddrinfo() calls; a supervisor sees the queries themselves, so an entry's host
// name is matched against the question (also as expanded by the target's search domains, which is
// how resolvers ask for short names), its port cannot be seen and is ignored, and IP or subnet entries
// have no question to match (an address is never looked up).
#pragma once

#include "tracer/policy/config.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mrd::tracer {

enum class Route { local, remote };

// The first question's name of a DNS message ("www.example.com", lower case, no trailing dot), or
// nothing when the message is malformed or has no question.
std::optional<std::string> dns_question_name(const uint8_t* data, size_t size);
// A query's SERVFAIL answer (its id, opcode, RD and question; no records): what a stub resolver
// answers when its upstream cannot be reached. Nothing for a malformed query.
std::optional<std::vector<uint8_t>> dns_servfail_answer(const uint8_t* query, size_t size);

class DnsSelector {
public:
    // filter: feature.network.dns.filter; search: the target's resolv.conf search domains.
    DnsSelector(const FilterList& filter, std::vector<std::string> search);
    // Whether any question can go local at all (no filter: everything is remote).
    bool active() const { return side_ != FilterList::Side::none; }
    Route route(const std::string& question) const;
    // The rule behind a route route() gave, for the session's report.
    const char* why(Route route) const;
    // Entries that cannot apply to DNS questions, for the user.
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    bool matches(const std::string& question) const;
    FilterList::Side side_;
    std::vector<std::string> names_;
    std::vector<std::string> search_;
    std::vector<std::string> warnings_;
};

// /etc/hosts for a split: our entries for the names the filter keeps local (first, so they win), then
// the target's file.
std::string split_hosts_file(const DnsSelector& selector, const std::string& local, const std::string& remote);

}  // namespace mrd::tracer
