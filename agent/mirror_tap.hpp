// What a mirroring client gets of one of the target's incoming connections: the bytes its peer
// sends, as they pass (SniffedFlows sees them).
#pragma once

#include "wire/connections.hpp"

#include <asio.hpp>

#include <memory>
#include <vector>

namespace mrd::agent {

class IncomingSink;

// What a mirroring client gets of one connection: the bytes the peer sends, as they pass.
class Tap {
public:
    virtual ~Tap() = default;
    virtual void copy(const char* data, size_t n) = 0;
    virtual void eof() = 0;
    // The real connection is over (the copy may still be being answered locally).
    virtual void finish() = 0;
    virtual void close(int code) = 0;
};

// A mirroring client's copy of one connection, byte for byte. A client too slow to keep up loses
// its copy rather than slowing the real traffic or making the agent buffer it.
class MirrorTap : public Tap, public wire::Endpoint, public std::enable_shared_from_this<MirrorTap> {
public:
    MirrorTap(asio::io_context& io, std::shared_ptr<IncomingSink> sink, uint64_t conn);
    static std::shared_ptr<MirrorTap> open(asio::io_context& io, const std::shared_ptr<IncomingSink>& sink, uint16_t port,
                                           const asio::ip::tcp::endpoint& peer, const asio::ip::tcp::endpoint& local);
    void copy(const char* data, size_t n) override;
    void eof() override;
    // The local program may still be answering its copy, so the copy ends with EOF and is closed
    // only after a grace period (or when the program closes it).
    void finish() override;
    void close(int code) override;
    void on_data(wire::Bytes) override {}  // the local program's replies to a copy go nowhere
    void on_window(uint32_t bytes) override { credit_ += bytes; }
    void on_eof() override;
    void on_close(int) override { release(); }

private:
    void release();
    std::weak_ptr<IncomingSink> sink_;
    std::weak_ptr<wire::Outbox> outbox_;
    uint64_t conn_;
    uint64_t credit_ = wire::kInitialWindow;
    bool closed_ = false, eof_sent_ = false;
    asio::steady_timer linger_;
};

using Taps = std::vector<std::shared_ptr<Tap>>;

}  // namespace mrd::agent
