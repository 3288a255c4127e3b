#include "tracer/policy/outgoing_policy.hpp"

#include "wire/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace mrd::tracer {
namespace {

// 16 bytes; IPv4 as v4-mapped IPv6 so both families compare alike.
std::optional<std::array<uint8_t, 16>> ip_bytes(const std::string& ip) {
    std::array<uint8_t, 16> out{};
    in_addr v4;
    if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        return out;
    }
    in6_addr v6;
    if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
        std::memcpy(out.data(), &v6, 16);
        return out;
    }
    return std::nullopt;
}

bool is_v4(const std::array<uint8_t, 16>& b) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b.data(), prefix, 12) == 0;
}

}  // namespace

bool ip_in_subnet(const std::string& ip, const std::string& subnet) {
    auto slash = subnet.find('/');
    auto addr = ip_bytes(ip), net = ip_bytes(subnet.substr(0, slash));
    if (!addr || !net) return false;
    int bits = 128;
    if (slash != std::string::npos) {
        bits = std::atoi(subnet.c_str() + slash + 1);
        if (is_v4(*net)) bits += 96;
    }
    if (is_v4(*net) != is_v4(*addr)) return false;
    for (int i = 0; i < bits; ++i) {
        uint8_t mask = static_cast<uint8_t>(0x80 >> (i % 8));
        if (((*addr)[static_cast<size_t>(i / 8)] & mask) != ((*net)[static_cast<size_t>(i / 8)] & mask)) return false;
    }
    return true;
}

bool is_loopback(const std::string& ip) { return ip_in_subnet(ip, "127.0.0.0/8") || ip_in_subnet(ip, "::1/128"); }

bool is_unspecified_or_multicast(const std::string& ip) {
    return ip_in_subnet(ip, "0.0.0.0/32") || ip_in_subnet(ip, "::/128") || ip_in_subnet(ip, "224.0.0.0/4") ||
           ip_in_subnet(ip, "255.255.255.255/32") || ip_in_subnet(ip, "ff00::/8");
}

OutgoingPolicy::OutgoingPolicy(Inputs inputs) : in_(std::move(inputs)), dns_(in_.dns.filter, in_.remote_search) {
    for (auto& pattern : in_.outgoing.unix_streams) unix_streams_.push_back(std::make_shared<const RE2>(pattern));  // checked with the config
}

bool OutgoingPolicy::unix_stream_is_remote(const std::string& path) const {
    return std::any_of(unix_streams_.begin(), unix_streams_.end(), [&](auto& re) { return RE2::PartialMatch(path, *re); });
}

Route OutgoingPolicy::dns_route(const uint8_t* query, size_t size) const {
    if (!splits_dns()) return Route::remote;
    auto name = dns_question_name(query, size);
    return name ? dns_.route(*name) : Route::remote;  // not a question we can read: as without a filter
}

wire::SocketAddress OutgoingPolicy::local_nameserver() const {
    // No nameserver line: the resolver's default, the local host.
    return {in_.local_nameservers.empty() ? "127.0.0.1" : in_.local_nameservers.front(), 53};
}

std::vector<std::string> OutgoingPolicy::warnings() const {
    if (!in_.dns.enabled && in_.dns.filter.side != FilterList::Side::none)
        return {"feature.network.dns.filter is ignored: DNS is local (feature.network.dns is off)"};
    return dns_.warnings();
}

bool OutgoingPolicy::is_dns(const wire::SocketAddress& dest) const {
    if (dest.port != 53) return false;
    return std::any_of(in_.remote_nameservers.begin(), in_.remote_nameservers.end(),
                       [&](const std::string& ns) { return ip_in_subnet(dest.ip, ns); });
}

bool OutgoingPolicy::matches(const AddressFilter& f, Transport transport, const wire::SocketAddress& dest) const {
    if (f.protocol == AddressFilter::Protocol::tcp && transport != Transport::tcp) return false;
    if (f.protocol == AddressFilter::Protocol::udp && transport != Transport::udp) return false;
    if (f.port && f.port != dest.port) return false;
    if (f.host.empty()) return true;
    if (wire::is_ip_literal(f.host.substr(0, f.host.find('/')))) return ip_in_subnet(dest.ip, f.host);
    if (f.host == "localhost" && is_loopback(dest.ip)) return true;
    auto it = in_.resolved.find(f.host);
    if (it == in_.resolved.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [&](const std::string& ip) { return ip_in_subnet(dest.ip, ip); });
}

OutgoingPolicy::Decision OutgoingPolicy::decide(Transport transport, const wire::SocketAddress& dest) const {
    if (is_unspecified_or_multicast(dest.ip)) return {Route::local, "an unspecified or multicast address"};
    if (dest.port == 53) {
        if (is_dns(dest)) return {in_.dns.enabled ? Route::remote : Route::local, "feature.network.dns"};
        bool local_ns = std::any_of(in_.local_nameservers.begin(), in_.local_nameservers.end(),
                                    [&](const std::string& ns) { return ip_in_subnet(dest.ip, ns); });
        if (local_ns && !in_.dns.enabled) return {Route::local, "feature.network.dns"};
    }
    if (transport == Transport::tcp && !in_.outgoing.tcp) return {Route::local, "feature.network.outgoing.tcp"};
    if (transport == Transport::udp && !in_.outgoing.udp) return {Route::local, "feature.network.outgoing.udp"};
    if (in_.outgoing.ignore_localhost && is_loopback(dest.ip)) return {Route::local, "feature.network.outgoing.ignore_localhost"};
    const FilterList& filter = in_.outgoing.filter;
    if (filter.side == FilterList::Side::none) return {Route::remote, "feature.network.outgoing"};
    bool hit = std::any_of(filter.entries.begin(), filter.entries.end(),
                           [&](const AddressFilter& f) { return matches(f, transport, dest); });
    if (filter.side == FilterList::Side::remote)
        return hit ? Decision{Route::remote, "feature.network.outgoing.filter.remote"}
                   : Decision{Route::local, "not in feature.network.outgoing.filter.remote"};
    return hit ? Decision{Route::local, "feature.network.outgoing.filter.local"}
               : Decision{Route::remote, "not in feature.network.outgoing.filter.local"};
}

std::optional<wire::SocketAddress> OutgoingPolicy::local_destination(Transport transport, const wire::SocketAddress& dest) const {
    const FilterList& filter = in_.outgoing.filter;
    if (filter.side != FilterList::Side::local) return std::nullopt;
    bool v6 = dest.ip.find(':') != std::string::npos && dest.ip.rfind("::ffff:", 0) != 0;
    for (auto& f : filter.entries) {
        if (f.host.empty() || wire::is_ip_literal(f.host.substr(0, f.host.find('/'))) || !matches(f, transport, dest)) continue;
        auto here = in_.resolved_here.find(f.host);
        if (here == in_.resolved_here.end()) continue;
        if (std::find(here->second.begin(), here->second.end(), dest.ip) != here->second.end()) return std::nullopt;
        for (auto& ip : here->second)
            if ((ip.find(':') != std::string::npos) == v6) return wire::SocketAddress{ip, dest.port};
    }
    return std::nullopt;
}

std::vector<std::string> OutgoingPolicy::filter_hostnames() const {
    std::vector<std::string> names;
    for (auto& f : in_.outgoing.filter.entries)
        if (!f.host.empty() && f.host != "localhost" && !wire::is_ip_literal(f.host.substr(0, f.host.find('/'))))
            names.push_back(f.host);
    return names;
}

}  // namespace mrd::tracer
