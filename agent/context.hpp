// What every client session of the agent shares.
#pragma once

#include "agent/resolver.hpp"
#include "agent/target.hpp"

#include <asio.hpp>

namespace mrd::agent {

struct Context {
    asio::io_context& io;
    asio::thread_pool& pool;  // for calls that block: files, DNS
    const Target& target;
    const Resolver& resolver;
    std::string hostname;
    class Incoming* incoming = nullptr;  // null when targetless
};

}  // namespace mrd::agent
