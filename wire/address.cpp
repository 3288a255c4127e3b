#include "wire/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace mrd::wire {

std::optional<SocketAddress> from_sockaddr(const sockaddr* sa, socklen_t len) {
    char text[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        return SocketAddress{text, ntohs(in->sin_port)};
    }
    if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        return SocketAddress{unmapped(text), ntohs(in6->sin6_port)};
    }
    return std::nullopt;
}

socklen_t to_sockaddr(const SocketAddress& address, sockaddr_storage& storage) {
    std::memset(&storage, 0, sizeof storage);
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    if (inet_pton(AF_INET, address.ip.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(address.port);
        return sizeof(sockaddr_in);
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET6, address.ip.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(address.port);
        return sizeof(sockaddr_in6);
    }
    return 0;
}

std::string unmapped(std::string ip) {
    if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) return ip.substr(7);
    return ip;
}

bool is_ip_literal(const std::string& text) {
    sockaddr_storage storage;
    return to_sockaddr(SocketAddress{text, 0}, storage) != 0;
}

std::string to_string(const SocketAddress& address) {
    if (address.ip.find(':') != std::string::npos) return "[" + address.ip + "]:" + std::to_string(address.port);
    return address.ip + ":" + std::to_string(address.port);
}

Result<HostPort> split_host_port(const std::string& text, std::optional<uint16_t> default_port) {
    auto invalid = [&] { return Error::msg("'" + text + "' is not HOST:PORT", EINVAL); };
    HostPort out;
    std::string port;
    if (!text.empty() && text.front() == '[') {  // [v6] or [v6]:port
        auto close = text.find(']');
        if (close == std::string::npos) return invalid();
        out.host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') return invalid();
            port = text.substr(close + 2);
            if (port.empty()) return invalid();
        }
    } else if (auto colon = text.rfind(':'); colon != std::string::npos && text.find(':') == colon) {
        out.host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (port.empty()) return invalid();
    } else if (colon != std::string::npos) {
        return invalid();  // a bare IPv6 address: its port would be ambiguous
    } else {
        out.host = text;
    }
    if (port.empty()) {
        if (!default_port) return invalid();
        out.port = *default_port;
        return out;
    }
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return invalid();
    unsigned long n = std::stoul(port);
    if (n > 65535) return invalid();
    out.port = static_cast<uint16_t>(n);
    return out;
}

}  // namespace mrd::wire
