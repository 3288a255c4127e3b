// The byte streams of sniffed TCP connections, rebuilt from their segments (as mirrord's mirror
// mode sees them: captured on their way to the target's application, which keeps them).
//
// A connection is followed from its SYN on: one that began before is not. Segments are put in
// sequence order (retransmissions trimmed, early ones held back up to a bound), and each
// connection's bytes go to the taps opened for it, then EOF at its FIN, or close at its RST; a
// gap that does not fill (a segment the capture dropped) ends its copies.
#pragma once

#include "agent/mirror_tap.hpp"

#include <asio.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <tuple>

namespace mrd::agent {

// One captured TCP segment, from the peer to the target.
struct TcpSegment {
    asio::ip::tcp::endpoint peer, local;
    uint32_t seq = 0;
    bool syn = false, ack = false, fin = false, rst = false;
    const char* data = nullptr;
    size_t size = 0;
};

class SniffedFlows {
public:
    using Clock = std::chrono::steady_clock;
    // The taps of a new connection to `local` (none: it is not followed).
    using Opener = std::function<Taps(const asio::ip::tcp::endpoint& peer, const asio::ip::tcp::endpoint& local)>;
    // What may wait for a gap to fill, per connection; past it, the connection's copies end.
    static constexpr size_t kMaxHeldBack = 4u << 20;
    // How long a gap may stay open (a segment the capture lost never comes): then the copies end.
    static constexpr auto kMaxGap = std::chrono::seconds(1);

    explicit SniffedFlows(Opener open) : open_(std::move(open)) {}

    void on_segment(const TcpSegment& segment, Clock::time_point now = Clock::now());
    // Ends the copies of connections silent since `idle_since` (their peers are gone unheard), and
    // of those whose gap has stayed open too long.
    void forget_idle(Clock::time_point idle_since, Clock::time_point now = Clock::now());
    // Ends every copy (with code; 0 as at EOF).
    void clear(int code);
    size_t size() const { return flows_.size(); }

private:
    using Key = std::tuple<asio::ip::tcp::endpoint, asio::ip::tcp::endpoint>;
    struct Flow {
        Taps taps;
        uint32_t next = 0;                         // the sequence number of the next byte to copy
        std::map<uint32_t, std::vector<char>> early;  // segments past a gap, by sequence number
        size_t held = 0;
        std::optional<Clock::time_point> gap_since;  // while segments wait for a gap
        std::optional<uint32_t> fin;               // the FIN's sequence number, once seen
        Clock::time_point last;
        // A gap open too long (a segment the capture dropped never comes), or too much behind it.
        bool stuck(Clock::time_point now) const { return held > kMaxHeldBack || (gap_since && now - *gap_since > kMaxGap); }
    };
    void deliver(Flow& flow, uint32_t seq, const char* data, size_t size);
    // Ends the flow if its FIN is reached.
    void maybe_end(std::map<Key, Flow>::iterator it);

    Opener open_;
    std::map<Key, Flow> flows_;
};

}  // namespace mrd::agent
