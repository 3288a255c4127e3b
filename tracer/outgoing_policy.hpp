// Decides, for each outgoing connection or datagram, whether it leaves from the target (remote) or
// from this machine (local): feature.network.outgoing with its filter, and DNS traffic to the
// target's nameservers governed by feature.network.dns.
#pragma once

#include "tracer/config.hpp"
#include "wire/messages.hpp"

#include <map>

namespace mrd::tracer {

enum class Route { local, remote };
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
    };
    explicit OutgoingPolicy(Inputs inputs) : in_(std::move(inputs)) {}
    OutgoingPolicy() = default;

    Route route(Transport transport, const wire::SocketAddress& dest) const;
    bool is_dns(const wire::SocketAddress& dest) const;
    // Host names the filter mentions, to resolve once at start-up.
    std::vector<std::string> filter_hostnames() const;
    const Inputs& inputs() const { return in_; }

private:
    bool matches(const AddressFilter& f, Transport transport, const wire::SocketAddress& dest) const;
    Inputs in_;
};

}  // namespace mrd::tracer
