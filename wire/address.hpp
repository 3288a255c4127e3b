// Conversions between the wire's textual SocketAddress, kernel sockaddrs and Asio endpoints.
#pragma once

#include "wire/messages.hpp"
#include "base/result.hpp"

#include <asio.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>

namespace mrd::wire {

std::optional<SocketAddress> from_sockaddr(const sockaddr* sa, socklen_t len);
// Fills storage; returns the sockaddr length, or 0 when ip is not a literal address.
socklen_t to_sockaddr(const SocketAddress& address, sockaddr_storage& storage);
bool is_ip_literal(const std::string& text);

// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are reported as IPv4 everywhere: a peer of a
// dual-stack socket is the same peer as on an IPv4 one.
std::string unmapped(std::string ip);

template <class Endpoint>
SocketAddress from_endpoint(const Endpoint& endpoint) {
    return SocketAddress{unmapped(endpoint.address().to_string()), endpoint.port()};
}

// "1.2.3.4:80", "[::1]:80"
std::string to_string(const SocketAddress& address);

// "host:port", "[v6]:port", or "host" alone when there is a default port: the host without its
// brackets (maybe empty, "any"), and a port in 1-65535 (0 only as "host:0", "any port").
struct HostPort {
    std::string host;
    uint16_t port = 0;
};
Result<HostPort> split_host_port(const std::string& text, std::optional<uint16_t> default_port = std::nullopt);

}  // namespace mrd::wire
