#include "agent/packet_capture.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace mrd::agent;

namespace {

void put16(std::string& p, size_t at, uint16_t v) { p[at] = char(v >> 8), p[at + 1] = char(v & 0xff); }
void put32(std::string& p, size_t at, uint32_t v) { put16(p, at, uint16_t(v >> 16)), put16(p, at + 2, uint16_t(v)); }

// An IPv4 packet from 10.77.0.10:5000 to 10.77.0.2:port carrying TCP with these flags and payload.
std::string ipv4(uint16_t port, uint8_t flags, const std::string& payload, uint8_t protocol = IPPROTO_TCP, uint16_t fragment = 0) {
    std::string p(20 + 24, '\0');  // a TCP header with 4 bytes of options
    p[0] = 0x45;
    put16(p, 2, uint16_t(p.size() + payload.size()));
    put16(p, 6, fragment);
    p[9] = char(protocol);
    put32(p, 12, 0x0a4d000a);
    put32(p, 16, 0x0a4d0002);
    put16(p, 20, 5000);
    put16(p, 22, port);
    put32(p, 24, 0xfffffff0u);
    p[32] = char(6 << 4);
    p[33] = char(flags);
    return p + payload;
}

std::string ipv6(uint16_t port, const std::string& payload) {
    std::string p(40 + 20, '\0');
    p[0] = 0x60;
    put16(p, 4, uint16_t(20 + payload.size()));
    p[6] = IPPROTO_TCP;
    p[23] = 1;  // ::1
    p[39] = 2;  // ::2
    put16(p, 40, 6000);
    put16(p, 42, port);
    put32(p, 44, 7);
    p[52] = char(5 << 4);
    p[53] = 0x18;
    return p + payload;
}

// Whether the filter lets `packet` through: run by the kernel on a unix datagram socket, whose
// datagrams it sees from offset 0, as a packet socket's filter sees the network header.
bool passes(const std::set<uint16_t>& ports, const std::string& packet) {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pair) == 0);
    auto code = PacketCapture::program(ports, 0x4d52444d);
    sock_fprog fprog{static_cast<unsigned short>(code.size()), code.data()};
    REQUIRE(::setsockopt(pair[0], SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) == 0);
    REQUIRE(::send(pair[1], packet.data(), packet.size(), 0) == ssize_t(packet.size()));
    char buffer[4096];
    bool got = ::recv(pair[0], buffer, sizeof buffer, 0) > 0;
    ::close(pair[0]);
    ::close(pair[1]);
    return got;
}

}  // namespace

TEST_CASE("packet capture: the filter keeps TCP to the watched ports, IPv4 and IPv6") {
    CHECK(passes({80, 8080}, ipv4(80, 0x02, "")));
    CHECK(passes({80, 8080}, ipv4(8080, 0x18, "GET /")));
    CHECK_FALSE(passes({80, 8080}, ipv4(81, 0x18, "GET /")));
    CHECK_FALSE(passes({80}, ipv4(80, 0x18, "GET /", IPPROTO_UDP)));
    CHECK_FALSE(passes({80}, ipv4(80, 0x18, "GET /", IPPROTO_TCP, 0x0010)));  // a later fragment
    CHECK(passes({443, 80}, ipv6(80, "x")));
    CHECK_FALSE(passes({443}, ipv6(80, "x")));
    CHECK_FALSE(passes({}, ipv4(80, 0x02, "")));
    std::set<uint16_t> many;
    for (uint16_t p = 1000; many.size() < PacketCapture::kMaxPorts; ++p) many.insert(p);
    CHECK(passes(many, ipv4(1000, 0x02, "")));
    CHECK(passes(many, ipv4(*many.rbegin(), 0x02, "")));
    CHECK_FALSE(passes(many, ipv4(80, 0x02, "")));
}

TEST_CASE("packet capture: a packet read as a TCP segment") {
    TcpSegment s;
    std::string v4 = ipv4(80, 0x19, "GET / HTTP/1.1\r\n");  // FIN, PSH, ACK
    REQUIRE(PacketCapture::parse(v4.data(), v4.size(), s));
    CHECK(s.peer == asio::ip::tcp::endpoint(asio::ip::make_address("10.77.0.10"), 5000));
    CHECK(s.local == asio::ip::tcp::endpoint(asio::ip::make_address("10.77.0.2"), 80));
    CHECK(s.seq == 0xfffffff0u);
    CHECK((s.fin && s.ack && !s.syn && !s.rst));
    CHECK(std::string(s.data, s.size) == "GET / HTTP/1.1\r\n");
    std::string v6 = ipv6(8080, "body");
    REQUIRE(PacketCapture::parse(v6.data(), v6.size(), s));
    CHECK(s.peer == asio::ip::tcp::endpoint(asio::ip::make_address("::1"), 6000));
    CHECK(s.local.port() == 8080);
    CHECK(std::string(s.data, s.size) == "body");
    std::string padded = v4 + std::string(6, '\0');  // Ethernet's minimum frame: the IP length decides
    REQUIRE(PacketCapture::parse(padded.data(), padded.size(), s));
    CHECK(s.size == 16);
    CHECK_FALSE(PacketCapture::parse(v4.data(), 30, s));
    std::string udp = ipv4(80, 0, "x", IPPROTO_UDP);
    CHECK_FALSE(PacketCapture::parse(udp.data(), udp.size(), s));
}
