#include "tracer/policy/dns_selector.hpp"

#include "base/text_file.hpp"
#include "wire/address.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace mrd::tracer {
namespace {

std::string normalized(std::string name) {
    name = to_lower(std::move(name));
    while (!name.empty() && name.back() == '.') name.pop_back();
    return name;
}

// Walks the first question's name: where it ends (after the root label), and the name itself into
// name when given.
std::optional<size_t> question_name_end(const uint8_t* data, size_t size, std::string* name) {
    constexpr size_t header = 12;
    if (size < header || ((data[4] << 8) | data[5]) == 0) return std::nullopt;  // QDCOUNT
    size_t at = header;
    size_t name_size = 0;
    for (;;) {
        if (at >= size) return std::nullopt;
        uint8_t length = data[at++];
        if (length == 0) break;
        if (length > 63 || at + length > size) return std::nullopt;  // a question has no compression
        name_size += (name_size ? 1 : 0) + length;
        if (name) {
            if (!name->empty()) *name += '.';
            name->append(reinterpret_cast<const char*>(data + at), length);
        }
        at += length;
        if (name_size > 253) return std::nullopt;
    }
    return at;
}

}  // namespace

std::optional<std::string> dns_question_name(const uint8_t* data, size_t size) {
    std::string name;
    if (!question_name_end(data, size, &name)) return std::nullopt;
    return normalized(std::move(name));
}

std::optional<std::vector<uint8_t>> dns_servfail_answer(const uint8_t* query, size_t size) {
    auto name_end = question_name_end(query, size, nullptr);
    // One question, and a query (not an answer), whole up to its type and class.
    if (!name_end || query[4] != 0 || query[5] != 1 || (query[2] & 0x80) || *name_end + 4 > size) return std::nullopt;
    std::vector<uint8_t> answer(query, query + *name_end + 4);
    answer[2] = static_cast<uint8_t>(0x80 | (query[2] & 0x79));  // QR, the query's opcode and RD
    answer[3] = 0x80 | 2;                                        // RA, RCODE SERVFAIL
    std::fill(answer.begin() + 6, answer.begin() + 12, 0);       // no answer, authority or additional records
    return answer;
}

DnsSelector::DnsSelector(const FilterList& filter, std::vector<std::string> search) : side_(filter.side) {
    for (auto& domain : search) search_.push_back(normalized(domain));
    for (const AddressFilter& f : filter.entries) {
        std::string host = f.host.substr(0, f.host.find('/'));
        if (host.empty() || wire::is_ip_literal(host)) {
            warnings_.push_back("feature.network.dns.filter: '" + f.text + "' names no host; DNS questions are matched by name only, so it never applies");
            continue;
        }
        if (f.port || f.protocol != AddressFilter::Protocol::any)
            warnings_.push_back("feature.network.dns.filter: '" + f.text + "': a DNS question carries no port or protocol; matching the name '" + host + "' alone");
        names_.push_back(normalized(host));
    }
}

bool DnsSelector::matches(const std::string& question) const {
    return std::any_of(names_.begin(), names_.end(), [&](const std::string& name) {
        if (question == name) return true;
        return std::any_of(search_.begin(), search_.end(), [&](const std::string& domain) {
            return question.size() == name.size() + 1 + domain.size() && question.compare(0, name.size(), name) == 0 &&
                   question[name.size()] == '.' && question.compare(name.size() + 1, domain.size(), domain) == 0;
        });
    });
}

Route DnsSelector::route(const std::string& question) const {
    switch (side_) {
        case FilterList::Side::none: return Route::remote;
        case FilterList::Side::local: return matches(question) ? Route::local : Route::remote;
        case FilterList::Side::remote: return matches(question) ? Route::remote : Route::local;
    }
    return Route::remote;
}

const char* DnsSelector::why(Route route) const {
    bool local = route == Route::local;
    switch (side_) {
        case FilterList::Side::none: return "feature.network.dns";
        case FilterList::Side::local: return local ? "feature.network.dns.filter.local" : "not in feature.network.dns.filter.local";
        case FilterList::Side::remote: return local ? "not in feature.network.dns.filter.remote" : "feature.network.dns.filter.remote";
    }
    return "";
}

std::string split_hosts_file(const DnsSelector& selector, const std::string& local, const std::string& remote) {
    std::string out;
    std::istringstream lines(local);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line.substr(0, line.find('#')));
        std::string ip, name, kept;
        if (!(fields >> ip)) continue;
        while (fields >> name)
            if (selector.route(normalized(name)) == Route::local) kept += " " + name;
        if (!kept.empty()) out += ip + kept + "\n";
    }
    if (!out.empty()) out = "# this machine's entries for names feature.network.dns.filter keeps local\n" + out + "# the target's\n";
    return out + remote;
}

}  // namespace mrd::tracer
