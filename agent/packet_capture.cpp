#include "agent/packet_capture.hpp"

#include "agent/redirect_rules.hpp"
#include "base/log.hpp"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace mrd::agent {

using asio::ip::tcp;

namespace {
constexpr size_t kSnap = 256 * 1024;  // past the largest IP packet: GSO packets come whole
constexpr int kReceiveBuffer = 8 << 20;  // bursts while the event loop is busy elsewhere

uint16_t be16(const char* p) { return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1])); }
uint32_t be32(const char* p) { return (static_cast<uint32_t>(be16(p)) << 16) | be16(p + 2); }
}  // namespace

Result<std::unique_ptr<PacketCapture>> PacketCapture::open(asio::io_context& io) {
    // Protocol 0: no packet comes until bind() names one, which watch() does once a filter is set.
    int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::from_errno("packet capture socket");
    int one = 1;
    // Each packet once: lo shows it going out and coming in.
    if (::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
        log::debug("packet capture: PACKET_IGNORE_OUTGOING: ", std::strerror(errno), "; outgoing packets are skipped when read");
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer, sizeof kReceiveBuffer) != 0)
        (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
    return std::unique_ptr<PacketCapture>(new PacketCapture(io, fd));
}

PacketCapture::PacketCapture(asio::io_context& io, int fd) : socket_(io, fd), buffer_(kSnap) {}

std::vector<sock_filter> PacketCapture::program(const std::set<uint16_t>& ports, uint32_t ignored_mark) {
    // Accepts TCP to one of the ports over IPv4 (unfragmented) or IPv6 (no extension header first),
    // except what carries ignored_mark (the agent's own connections to the application, on lo).
    uint8_t n = static_cast<uint8_t>(ports.size());
    uint8_t reject = 14 + n;  // its index (16 + n), less 2: the mark test's jump counts from the next one
    std::vector<sock_filter> p = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_MARK)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ignored_mark, static_cast<uint8_t>(reject - 0), 0),  // 1
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 7),  // 4: IPv4, else to 12
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, static_cast<uint8_t>(reject - 5)),  // 6
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, static_cast<uint8_t>(reject - 7), 0),  // 8: a later fragment
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        BPF_STMT(BPF_JMP | BPF_JA, 4),  // 11: to the ports
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, static_cast<uint8_t>(reject - 11)),  // 12: IPv6
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, static_cast<uint8_t>(reject - 13)),  // 14
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 42),
    };
    uint8_t i = 0;
    for (uint16_t port : ports) {  // 16 + i
        p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, static_cast<uint8_t>(n - i), 0));
        ++i;
    }
    p.push_back(BPF_STMT(BPF_RET | BPF_K, 0));  // 16 + n: reject
    p.push_back(BPF_STMT(BPF_RET | BPF_K, kSnap));  // 17 + n: accept
    return p;
}

Status PacketCapture::watch(const std::set<uint16_t>& ports, Handler handler) {
    if (ports.size() > kMaxPorts) return Error::msg("mirroring more than " + std::to_string(kMaxPorts) + " ports at once", E2BIG);
    handler_ = std::move(handler);
    // Not bound until a port is mirrored: till then the kernel hands it no packet, and the target's
    // traffic runs no filter for it. Once bound, it stays (binding to protocol 0 keeps the last
    // one); with no ports, the filter rejects every packet.
    if (!bound_ && ports.empty()) return {};
    int fd = socket_.native_handle();
    auto code = program(ports, RedirectRules::kBypassMark);
    sock_fprog fprog{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0) return Error::from_errno("packet capture filter");
    if (!bound_) {
        sockaddr_ll all{};
        all.sll_family = AF_PACKET;
        all.sll_protocol = htons(ETH_P_ALL);
        all.sll_ifindex = 0;  // every interface
        if (::bind(fd, reinterpret_cast<sockaddr*>(&all), sizeof all) != 0) return Error::from_errno("packet capture bind");
        bound_ = true;
    }
    if (!reading_) read();
    return {};
}

unsigned PacketCapture::dropped() {
    tpacket_stats stats{};
    socklen_t len = sizeof stats;
    if (::getsockopt(socket_.native_handle(), SOL_PACKET, PACKET_STATISTICS, &stats, &len) != 0) return 0;
    return stats.tp_drops;
}

void PacketCapture::read() {
    reading_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
        if (ec) return;  // closed (this may be gone): nothing more to read
        reading_ = false;
        for (int i = 0; i < 256; ++i) {  // then others get the event loop
            sockaddr_ll from{};
            socklen_t from_len = sizeof from;
            ssize_t n = ::recvfrom(socket_.native_handle(), buffer_.data(), buffer_.size(), MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN) log::warn("packet capture: ", std::strerror(errno));
                break;
            }
            if (from.sll_pkttype == PACKET_OUTGOING) continue;
            TcpSegment segment;
            if (static_cast<size_t>(n) > buffer_.size()) log::debug("packet capture: a packet of ", n, " bytes, past the snap length");
            else if (parse(buffer_.data(), static_cast<size_t>(n), segment) && handler_) handler_(segment);
        }
        read();
    });
}

bool PacketCapture::parse(const char* p, size_t size, TcpSegment& s) {
    if (size < 1) return false;
    size_t ip_header = 0, end = 0;
    asio::ip::address source, destination;
    if ((static_cast<uint8_t>(p[0]) >> 4) == 4) {
        if (size < 20 || static_cast<uint8_t>(p[9]) != IPPROTO_TCP || (be16(p + 6) & 0x1fff)) return false;
        ip_header = (static_cast<uint8_t>(p[0]) & 0x0f) * 4u;
        end = std::min<size_t>(be16(p + 2), size);
        source = asio::ip::address_v4(be32(p + 12));
        destination = asio::ip::address_v4(be32(p + 16));
    } else if ((static_cast<uint8_t>(p[0]) >> 4) == 6) {
        if (size < 40 || static_cast<uint8_t>(p[6]) != IPPROTO_TCP) return false;
        ip_header = 40;
        end = std::min<size_t>(40u + be16(p + 4), size);
        asio::ip::address_v6::bytes_type a, b;
        std::memcpy(a.data(), p + 8, 16);
        std::memcpy(b.data(), p + 24, 16);
        source = asio::ip::address_v6(a);
        destination = asio::ip::address_v6(b);
    } else {
        return false;
    }
    if (ip_header < 20 || end < ip_header + 20) return false;
    const char* t = p + ip_header;
    size_t tcp_header = (static_cast<uint8_t>(t[12]) >> 4) * 4u;
    if (tcp_header < 20 || ip_header + tcp_header > end) return false;
    uint8_t flags = static_cast<uint8_t>(t[13]);
    s.peer = tcp::endpoint(source, be16(t));
    s.local = tcp::endpoint(destination, be16(t + 2));
    s.seq = be32(t + 4);
    s.fin = flags & 0x01;
    s.syn = flags & 0x02;
    s.rst = flags & 0x04;
    s.ack = flags & 0x10;
    s.data = t + tcp_header;
    s.size = end - ip_header - tcp_header;
    return true;
}

}  // namespace mrd::agent
