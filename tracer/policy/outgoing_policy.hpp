// Decides, for each outgoing connection or datagram, whether it leaves from the target (remote) or
// from this machine (local): feature.network.outgoing with its filter, and DNS traffic to the
// target's nameservers governed by feature.network.dns.
#pragma once

#include "tracer/policy/config.hpp"
#include "tracer/policy/dns_selector.hpp"
#include "wire/messages.hpp"

#include <re2/re2.h>

#include <map>
#include <memory>

namespace mrd::tracer {

enum class Transport { tcp, udp };

// True when ip lies in "addr/bits" (or equals addr without a mask). v4-mapped IPv6 counts as IPv4.
bool ip_in_subnet(const std::string& ip, const std::string& subnet);
bool is_loopback(const std::string& ip);
bool is_unspecified_or_multicast(const std::string& ip);

class OutgoingPolicy {
public:
    struct Inputs {
        OutgoingConfig outgoing;
        DnsConfig dns;
        std::vector<std::string> remote_nameservers;  // from the target's resolv.conf
        std::vector<std::string> local_nameservers;   // from ours
        std::map<std::string, std::vector<std::string>> resolved;  // host names in the filter -> addresses
        // The same names as this machine resolves them, when `resolved` is the target's (remote DNS).
        std::map<std::string, std::vector<std::string>> resolved_here;
        std::vector<std::string> remote_search;                    // the target's search domains
    };
    explicit OutgoingPolicy(Inputs inputs);
    OutgoingPolicy() = default;

    struct Decision {
        Route route;
        const char* rule;  // the config key that chose it, for the session's report
    };
    Decision decide(Transport transport, const wire::SocketAddress& dest) const;
    Route route(Transport transport, const wire::SocketAddress& dest) const { return decide(transport, dest).route; }
    // Where a connection that route() keeps local really goes: a name in filter.local that the
    // program resolved through the target means this machine's address for that name, as mirrord
    // re-resolves it. nullopt: dest as given.
    std::optional<wire::SocketAddress> local_destination(Transport transport, const wire::SocketAddress& dest) const;
    // feature.network.outgoing.unix_streams: a unix stream socket path connected in the target.
    bool unix_stream_is_remote(const std::string& path) const;
    bool is_dns(const wire::SocketAddress& dest) const;
    // feature.network.dns.filter: whether some questions to the target's nameservers are answered
    // here instead, which ones, and by whom (our first nameserver).
    bool splits_dns() const { return in_.dns.enabled && dns_.active(); }
    Route dns_route(const uint8_t* query, size_t size) const;
    const DnsSelector& dns_selector() const { return dns_; }
    wire::SocketAddress local_nameserver() const;
    std::vector<std::string> warnings() const;
    // Host names the filter mentions, to resolve once at start-up.
    std::vector<std::string> filter_hostnames() const;
    const Inputs& inputs() const { return in_; }

private:
    bool matches(const AddressFilter& f, Transport transport, const wire::SocketAddress& dest) const;
    Inputs in_;
    DnsSelector dns_{FilterList{}, {}};
    std::vector<std::shared_ptr<const RE2>> unix_streams_;
};

}  // namespace mrd::tracer
