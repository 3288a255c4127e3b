// A synchronous agent client for tests and tools: requests wait for their reply; stream messages that
// arrive meanwhile are kept for next_streamed().
#pragma once

#include "wire/codec.hpp"

#include <deque>
#include <string>

namespace mrd::test {

class BlockingClient {
public:
    // spec: unix:PATH or tcp:HOST:PORT. Throws std::runtime_error when it cannot connect.
    explicit BlockingClient(const std::string& spec);
    ~BlockingClient();
    BlockingClient(const BlockingClient&) = delete;

    wire::Message request(wire::Message m);
    void send(uint32_t id, wire::Message m);
    void send_raw(const void* data, size_t size);
    // The next message that is not a reply; throws when the agent closed the connection.
    wire::Message next_streamed();
    // The next message the agent started, if one comes within timeout_ms.
    std::optional<wire::Message> next_streamed_for(int timeout_ms);
    // Waits up to timeout_ms for the next message of any kind; nullopt on timeout or close.
    std::optional<wire::Envelope> receive_for(int timeout_ms);
    // Whether the peer closes the link within timeout_ms (what it sends first is dropped).
    bool closed_by_peer(int timeout_ms);
    int fd() const { return fd_; }

private:
    wire::Envelope receive();
    int fd_ = -1;
    uint32_t next_id_ = 1;
    wire::FrameReader reader_;
    std::deque<wire::Message> streamed_;
};

}  // namespace mrd::test
