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

}  // namespace mrd::wire
