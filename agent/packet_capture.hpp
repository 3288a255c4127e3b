// Copies of the TCP segments arriving in the target's network namespace for some ports, on every
// interface (its eth0, and lo for its own clients), as they pass: an AF_PACKET socket whose BPF
// filter keeps only those. How mirror mode sees traffic without standing in its way (as mirrord's
// sniffer does): the target's application keeps its connections, and its peers' addresses.
#pragma once

#include "agent/sniffed_flows.hpp"
#include "base/result.hpp"

#include <asio.hpp>

#include <functional>
#include <memory>
#include <set>
#include <vector>

struct sock_filter;

namespace mrd::agent {

class PacketCapture {
public:
    using Handler = std::function<void(const TcpSegment&)>;
    static constexpr size_t kMaxPorts = 200;  // the filter's jumps reach that far

    // Made while the agent may still (CAP_NET_RAW), in the target's network namespace; it
    // receives nothing until watch().
    static Result<std::unique_ptr<PacketCapture>> open(asio::io_context& io);
    // Captures segments to these ports from now on (none: nothing), each given to handler.
    Status watch(const std::set<uint16_t>& ports, Handler handler);

    // Packets the kernel dropped for want of room since the last call (PACKET_STATISTICS).
    unsigned dropped();

    // The filter's program, for SOCK_DGRAM packet sockets (the network header first). Public for tests.
    static std::vector<sock_filter> program(const std::set<uint16_t>& ports, uint32_t ignored_mark);
    // A captured IPv4 or IPv6 packet as a TCP segment (false if it is not one).
    static bool parse(const char* packet, size_t size, TcpSegment& segment);

private:
    explicit PacketCapture(asio::io_context& io, int fd);
    void read();

    asio::posix::stream_descriptor socket_;
    bool bound_ = false, reading_ = false;
    std::vector<char> buffer_;
    Handler handler_;
};

}  // namespace mrd::agent
