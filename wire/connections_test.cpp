#include "wire/connections.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace mrd::wire;

namespace {

struct RecordingOutbox : Outbox {
    std::vector<Message> sent;
    void send(uint32_t, Message message) override { sent.push_back(std::move(message)); }
};

uint64_t credit_returned(const RecordingOutbox& outbox) {
    uint64_t total = 0;
    for (auto& m : outbox.sent)
        if (auto* w = std::get_if<WindowUpdate>(&m)) total += w->bytes;
    return total;
}

}  // namespace

TEST_CASE("StreamBridge returns credit in batches, and always before the sender runs out") {
    asio::io_context io;
    asio::local::stream_protocol::socket ours(io), theirs(io);
    asio::local::connect_pair(ours, theirs);
    auto outbox = std::make_shared<RecordingOutbox>();
    ConnectionTable table;
    auto bridge = std::make_shared<StreamBridge>(7, outbox, table);
    table.add(7, bridge);
    bridge->attach(std::move(ours));

    // Small writes, as requests and answers are: no update for each.
    for (int i = 0; i < 10; ++i) bridge->on_data(Bytes(100, 'x'));
    io.poll();
    CHECK(credit_returned(*outbox) == 0);
    std::vector<char> drain(kInitialWindow);
    size_t got = theirs.read_some(asio::buffer(drain));
    CHECK(got == 1000);

    // A whole window sent: credit comes back as it is written, so the sender never waits for good.
    uint64_t sent = 1000;
    std::atomic<bool> read_all = false;
    std::thread reader([&] {
        std::error_code ec;
        size_t total = 0;
        while (total < kInitialWindow - 1000 && !ec) total += theirs.read_some(asio::buffer(drain), ec);
        read_all = true;
    });
    while (sent < kInitialWindow) {
        size_t n = std::min<uint64_t>(64 * 1024, kInitialWindow - sent);
        bridge->on_data(Bytes(n, 'y'));
        sent += n;
    }
    while (!read_all) io.run_one_for(std::chrono::milliseconds(50));
    reader.join();
    io.poll();
    CHECK(credit_returned(*outbox) >= kInitialWindow - kInitialWindow / 4);
    CHECK(credit_returned(*outbox) <= kInitialWindow);
    size_t updates = 0;
    for (auto& m : outbox->sent) updates += std::holds_alternative<WindowUpdate>(m);
    CHECK(updates <= 4);
}
