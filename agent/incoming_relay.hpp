// Moving the target's incoming connections: where they were going, the agent's own connections to
// the target's application, relaying both ways.
#pragma once

#include "agent/incoming.hpp"
#include "base/co.hpp"

#include <asio.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace mrd::agent {

// Where the peer meant to connect before the redirect (SO_ORIGINAL_DST).
std::optional<asio::ip::tcp::endpoint> original_destination(asio::ip::tcp::socket& socket);

// A connection to the target's own application, marked so the redirect lets it through.
co::Task<std::optional<asio::ip::tcp::socket>> connect_upstream(asio::io_context& io, asio::ip::tcp::endpoint destination);

// Copies from -> to until EOF (then half-closes to) or an error (then closes both).
co::Task<void> pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to);

// Both directions until both are done; `pending` is what was read from the peer but not yet sent.
co::Task<void> relay(std::shared_ptr<asio::ip::tcp::socket> peer, std::shared_ptr<asio::ip::tcp::socket> app,
                     std::vector<char> pending);

}  // namespace mrd::agent
