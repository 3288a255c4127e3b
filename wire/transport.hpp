// The byte stream an agent session runs over: a plain socket (a unix socket, whose peer's uid the
// agent checks) or TLS 1.3 with both ends' certificates pinned (every TCP link).
#pragma once

#include "base/co.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "wire/tls_identity.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <functional>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

namespace mrd::wire {

class Transport {
public:
    using Socket = asio::generic::stream_protocol::socket;
    using Handler = std::function<void(std::error_code, size_t)>;
    virtual ~Transport() = default;
    virtual void read_some(asio::mutable_buffer buffer, Handler done) = 0;
    virtual void write_all(asio::const_buffer buffer, Handler done) = 0;
    virtual void close() = 0;
    // What can be read at once, without waiting: bytes, or eof, or would_block (always for TLS,
    // whose records need the event loop).
    virtual size_t read_ready(asio::mutable_buffer, std::error_code& ec) {
        ec = asio::error::would_block;
        return 0;
    }
    // Open files passed along with the bytes (SCM_RIGHTS): a unix socket only. Those given here go
    // with the next write; those received come out in the order they were sent.
    virtual bool passes_fds() const { return false; }
    virtual void send_with_next_write(std::vector<UniqueFd>) {}  // dropped: the peer finds none
    virtual std::optional<UniqueFd> take_received_fd() { return std::nullopt; }
};

std::unique_ptr<Transport> plain_transport(Transport::Socket socket);

// Completes a TLS 1.3 handshake on socket within `timeout` (wire/tls_transport.cpp); the peer's certificate must be the one
// `context` pins (pinned_tls_context).
co::Task<Result<std::unique_ptr<Transport>>> tls_transport(Transport::Socket socket, std::shared_ptr<asio::ssl::context> context,
                                                           bool server, std::chrono::milliseconds timeout);

}  // namespace mrd::wire
