// Outgoing connections made from inside the target's network namespace on a client's behalf.
#pragma once

#include "agent/context.hpp"
#include "wire/connections.hpp"

#include <functional>

namespace mrd::agent {

using Reply = std::function<void(wire::Message)>;

// Connects (resolving a host name in the target first); replies Connected or ErrorReply, and on
// success relays the socket as conn.
void connect_tcp(Context& ctx, const wire::TcpConnect& request, std::weak_ptr<wire::Outbox> outbox,
                 wire::ConnectionTable& table, Reply reply);

// Connects to the unix stream socket at request.path in the target's file system.
void connect_unix(Context& ctx, const wire::UnixConnect& request, std::weak_ptr<wire::Outbox> outbox,
                  wire::ConnectionTable& table, Reply reply);

// Opens a UDP socket connected to the remote; each Data message is one datagram either way.
void connect_udp(Context& ctx, const wire::UdpConnect& request, std::weak_ptr<wire::Outbox> outbox,
                 wire::ConnectionTable& table, Reply reply);

}  // namespace mrd::agent
