#include "agent/sniffed_flows.hpp"

#include <catch2/catch.hpp>

using namespace mrd::agent;
using asio::ip::tcp;

namespace {

// What a mirroring client would have been sent of one connection.
struct Recording : Tap {
    std::string bytes, events;
    void copy(const char* data, size_t n) override { bytes.append(data, n); }
    void eof() override { events += "eof "; }
    void finish() override { events += "finish "; }
    void close(int code) override { events += "close " + std::to_string(code) + " "; }
};

const tcp::endpoint kLocal(asio::ip::make_address("10.77.0.2"), 80);
tcp::endpoint peer(uint16_t port) { return tcp::endpoint(asio::ip::make_address("10.77.0.10"), port); }

TcpSegment syn(uint16_t port, uint32_t seq) { return TcpSegment{peer(port), kLocal, seq, true, false, false, false, nullptr, 0}; }
TcpSegment data(uint16_t port, uint32_t seq, const std::string& text, bool fin = false) {
    return TcpSegment{peer(port), kLocal, seq, false, true, fin, false, text.data(), text.size()};
}

struct Fixture {
    std::vector<std::shared_ptr<Recording>> opened;
    SniffedFlows flows{[this](const tcp::endpoint&, const tcp::endpoint& local) {
        if (local.port() != 80) return Taps{};
        opened.push_back(std::make_shared<Recording>());
        return Taps{opened.back()};
    }};
};

}  // namespace

TEST_CASE("sniffed flows: a connection's bytes in order, then EOF at its FIN") {
    Fixture f;
    std::string get = "GET / HTTP/1.1\r\n\r\n";
    f.flows.on_segment(syn(5000, 100));
    f.flows.on_segment(data(5000, 101, get));
    f.flows.on_segment(TcpSegment{peer(5000), kLocal, 101 + static_cast<uint32_t>(get.size()), false, true, false, false, nullptr, 0});
    f.flows.on_segment(data(5000, 101 + static_cast<uint32_t>(get.size()), "", true));
    REQUIRE(f.opened.size() == 1);
    CHECK(f.opened[0]->bytes == get);
    CHECK(f.opened[0]->events == "eof finish ");
    CHECK(f.flows.size() == 0);
}

TEST_CASE("sniffed flows: early segments wait for the gap; retransmissions are trimmed") {
    Fixture f;
    f.flows.on_segment(syn(5001, 0xfffffff0u));  // the sequence numbers wrap on the way
    uint32_t first = 0xfffffff1u;
    f.flows.on_segment(data(5001, first + 10, "klmnopqrst"));
    f.flows.on_segment(data(5001, first + 25, "zz", true));
    CHECK(f.opened[0]->bytes.empty());
    f.flows.on_segment(data(5001, first, "abcdefghij"));
    CHECK(f.opened[0]->bytes == "abcdefghijklmnopqrst");
    f.flows.on_segment(data(5001, first + 5, "fghijklmnopqrstuvw"));  // overlaps what came, and goes on
    f.flows.on_segment(data(5001, first + 20, "uvwxy"));
    CHECK(f.opened[0]->bytes == "abcdefghijklmnopqrstuvwxyzz");
    CHECK(f.opened[0]->events == "eof finish ");
}

TEST_CASE("sniffed flows: what is not followed") {
    Fixture f;
    f.flows.on_segment(data(5002, 1, "begun before"));  // no SYN seen
    f.flows.on_segment(TcpSegment{peer(5003), tcp::endpoint(kLocal.address(), 81), 7, true, false, false, false, nullptr, 0});
    CHECK(f.opened.empty());
    CHECK(f.flows.size() == 0);
}

TEST_CASE("sniffed flows: RST, a SYN again, port reuse, a gap that never fills, idle connections") {
    Fixture f;
    f.flows.on_segment(syn(5004, 10));
    f.flows.on_segment(syn(5004, 10));  // retransmitted SYN: the same connection
    f.flows.on_segment(data(5004, 11, "x"));
    f.flows.on_segment(TcpSegment{peer(5004), kLocal, 12, false, true, false, true, nullptr, 0});
    REQUIRE(f.opened.size() == 1);
    CHECK(f.opened[0]->bytes == "x");
    CHECK(f.opened[0]->events == "close " + std::to_string(ECONNRESET) + " ");

    f.flows.on_segment(syn(5005, 10));
    f.flows.on_segment(syn(5005, 5000));  // a new connection from the same port
    REQUIRE(f.opened.size() == 3);
    CHECK(f.opened[1]->events == "eof finish ");

    std::string chunk(1 << 20, 'q');
    for (uint32_t i = 1; i <= 5; ++i) f.flows.on_segment(data(5005, 5001 + i * (1u << 21), chunk));
    CHECK(f.opened[2]->events == "close " + std::to_string(ENOBUFS) + " ");

    auto start = SniffedFlows::Clock::now();
    f.flows.on_segment(syn(5008, 1), start);
    f.flows.on_segment(data(5008, 10, "after a lost segment"), start);
    f.flows.on_segment(data(5008, 40, "still waiting"), start + std::chrono::milliseconds(500));
    CHECK(f.opened[3]->events.empty());
    f.flows.on_segment(data(5008, 60, "given up"), start + std::chrono::milliseconds(1600));
    CHECK(f.opened[3]->events == "close " + std::to_string(ENOBUFS) + " ");
    f.opened.erase(f.opened.begin() + 3);

    f.flows.on_segment(syn(5006, 1), start);
    f.flows.on_segment(syn(5007, 1), start + std::chrono::minutes(9));
    f.flows.forget_idle(start + std::chrono::minutes(5), start + std::chrono::minutes(9));
    CHECK(f.opened[3]->events == "eof finish ");
    CHECK(f.opened[4]->events.empty());
    f.flows.clear(0);
    CHECK(f.opened[4]->events == "eof finish ");
}
