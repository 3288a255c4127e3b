// Moving the target's incoming connections: where they were going, the agent's own connections to
// the target's application, relaying both ways, and mirroring clients' copies.
#pragma once

#include "agent/incoming.hpp"
#include "base/co.hpp"
#include "wire/connections.hpp"

#include <asio.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace mrd::agent {

// Where the peer meant to connect before the redirect (SO_ORIGINAL_DST).
std::optional<asio::ip::tcp::endpoint> original_destination(asio::ip::tcp::socket& socket);

// A connection to the target's own application, marked so the redirect lets it through.
co::Task<std::optional<asio::ip::tcp::socket>> connect_upstream(asio::io_context& io, asio::ip::tcp::endpoint destination);

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

// Copies from -> to until EOF (then half-closes to) or an error (then closes both).
co::Task<void> pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to, Taps* taps);

// Both directions until both are done; `pending` is what was read from the peer but not yet sent
// (already copied to the taps when tapped is true).
co::Task<void> relay(std::shared_ptr<asio::ip::tcp::socket> peer, std::shared_ptr<asio::ip::tcp::socket> app, Taps taps,
                     std::vector<char> pending, bool tapped = false);

}  // namespace mrd::agent
