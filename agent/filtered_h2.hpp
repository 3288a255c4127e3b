// HTTP/2 (cleartext, prior knowledge: gRPC between services) on a port with steal filters: each
// stream is matched on its headers; a matching one goes whole to the client that filters for it, the
// others are relayed stream by stream to the target's own application over one HTTP/2 connection.
#pragma once

#include "agent/http_filter.hpp"
#include "agent/incoming_relay.hpp"

namespace mrd::agent {

using FilterList = std::vector<std::pair<std::weak_ptr<IncomingSink>, HttpMatcher>>;

bool starts_like_h2(const std::vector<char>& bytes);  // the client preface, or as much of it as arrived

// initial: the bytes read from the peer so far (the preface at least).
co::Task<void> serve_filtered_h2(asio::io_context& io, std::shared_ptr<asio::ip::tcp::socket> peer,
                                 asio::ip::tcp::endpoint destination, FilterList filters, std::vector<char> initial);

}  // namespace mrd::agent
