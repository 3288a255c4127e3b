#include "agent/sniffed_flows.hpp"

#include "base/log.hpp"

#include <algorithm>
#include <cerrno>

namespace mrd::agent {

namespace {
// Sequence numbers wrap: a is before b when the distance from a to b is under half the space.
int32_t distance(uint32_t from, uint32_t to) { return static_cast<int32_t>(to - from); }

void end(Taps& taps, int code) {
    for (auto& t : taps) {
        if (code) t->close(code);
        else {
            t->eof();
            t->finish();
        }
    }
}
}  // namespace

void SniffedFlows::on_segment(const TcpSegment& segment, Clock::time_point now) {
    Key key{segment.peer, segment.local};
    auto it = flows_.find(key);
    if (segment.syn && !segment.ack) {
        if (it != flows_.end()) {
            if (segment.seq + 1 == it->second.next) return;  // the SYN again: a retransmission
            end(it->second.taps, 0);  // the peer's port is used anew: the old connection is over
            flows_.erase(it);
        }
        Taps taps = open_(segment.peer, segment.local);
        if (taps.empty()) return;
        it = flows_.emplace(key, Flow{std::move(taps), segment.seq + 1, {}, 0, {}, {}, now}).first;
        if (segment.size) deliver(it->second, segment.seq + 1, segment.data, segment.size);  // TCP Fast Open
        return;
    }
    if (it == flows_.end()) return;  // begun before it was followed
    Flow& flow = it->second;
    flow.last = now;
    if (segment.rst) {
        end(flow.taps, ECONNRESET);
        flows_.erase(it);
        return;
    }
    if (segment.size) deliver(flow, segment.seq, segment.data, segment.size);
    if (flow.early.empty()) flow.gap_since.reset();
    else if (!flow.gap_since) flow.gap_since = now;
    if (flow.stuck(now)) {
        log::debug("mirror: a gap in the bytes of ", segment.peer, "'s connection did not fill; its copies end");
        end(flow.taps, ENOBUFS);
        flows_.erase(it);
        return;
    }
    if (segment.fin) flow.fin = segment.seq + static_cast<uint32_t>(segment.size);
    maybe_end(it);
}

void SniffedFlows::deliver(Flow& flow, uint32_t seq, const char* data, size_t size) {
    if (distance(flow.next, seq) > 0) {  // after a gap: held until the gap fills
        auto& held = flow.early[seq];
        if (size > held.size()) {
            flow.held += size - held.size();
            held.assign(data, data + size);
        }
        return;
    }
    auto copy = [&flow](uint32_t at, const char* bytes, size_t n) {
        size_t seen = static_cast<size_t>(distance(at, flow.next));  // already copied: a retransmission
        if (seen >= n) return;
        for (auto& t : flow.taps) t->copy(bytes + seen, n - seen);
        flow.next += static_cast<uint32_t>(n - seen);
    };
    copy(seq, data, size);
    auto ready = [&flow] {
        return std::find_if(flow.early.begin(), flow.early.end(), [&flow](auto& e) { return distance(flow.next, e.first) <= 0; });
    };
    for (auto e = ready(); e != flow.early.end(); e = ready()) {
        std::vector<char> bytes = std::move(e->second);
        uint32_t at = e->first;
        flow.held -= bytes.size();
        flow.early.erase(e);
        copy(at, bytes.data(), bytes.size());
    }
}

void SniffedFlows::maybe_end(std::map<Key, Flow>::iterator it) {
    if (!it->second.fin || *it->second.fin != it->second.next) return;
    end(it->second.taps, 0);
    flows_.erase(it);
}

void SniffedFlows::forget_idle(Clock::time_point idle_since, Clock::time_point now) {
    for (auto it = flows_.begin(); it != flows_.end();) {
        bool stuck = it->second.stuck(now);
        if (it->second.last >= idle_since && !stuck) {
            ++it;
            continue;
        }
        end(it->second.taps, stuck ? ENOBUFS : 0);
        it = flows_.erase(it);
    }
}

void SniffedFlows::clear(int code) {
    auto flows = std::move(flows_);
    flows_.clear();
    for (auto& [key, flow] : flows) end(flow.taps, code);
}

}  // namespace mrd::agent
