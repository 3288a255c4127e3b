// The supervisor's connection to the agent: request/reply calls that coroutines await, and the
// multiplexed connections (outgoing streams, UDP flows) riding on the same session.
#pragma once

#include "wire/co.hpp"
#include "wire/connections.hpp"
#include "wire/tls_identity.hpp"

#include <chrono>
#include <map>

namespace mrd::tracer {

// A TCP link to the agent: who this session is, and the fingerprint the agent announced.
struct AgentTls {
    wire::TlsIdentity self;
    std::string agent_fingerprint;
};

class AgentClient {
public:
    explicit AgentClient(asio::io_context& io) : io_(io) {}

    // "unix:PATH", "tcp:HOST:PORT" or "HOST:PORT"; connects and says hello. A TCP link is TLS 1.3:
    // `tls` is this session's identity and the agent's announced fingerprint.
    co::Task<Status> connect(const std::string& address, std::chrono::milliseconds timeout, const AgentTls* tls);

    // A request; awaiting it gives the reply, or ErrorReply (ECONNRESET once the agent is gone).
    //   auto reply = co_await agent.call<wire::FileStat>(path, true);
    // The request is built here rather than by the caller: GCC 12 destroys a braced aggregate
    // temporary twice when it appears in a co_await expression (see co.hpp).
    template <class Request, class... Args>
    auto call(Args&&... args) {
        return send_request(wire::Message(Request{std::forward<Args>(args)...}));
    }
    co::Promise<wire::Message>::Awaiter send_request(wire::Message request);
    void send(wire::Message message);
    wire::ConnectionTable& connections() { return connections_; }
    std::weak_ptr<wire::Outbox> outbox() const { return session_; }
    uint64_t new_connection_id() { return next_conn_++; }
    const wire::HelloOk& hello() const { return hello_; }
    bool connected() const { return session_ && session_->is_open(); }
    void close();
    // Messages the agent starts (incoming connections, stolen requests).
    void on_unsolicited(std::function<void(wire::Message&)> handler) { unsolicited_ = std::move(handler); }
    // The session ended from the agent's side (it exited, the port-forward dropped).
    void on_lost(std::function<void()> handler) { lost_ = std::move(handler); }

private:
    // Traffic every few seconds keeps port-forwards and proxies from closing an idle session (the
    // program may sit at a breakpoint for an hour), and says when the agent stops answering.
    co::Task<void> keep_alive();
    void on_message(wire::Envelope&& envelope);
    void on_closed(const Error& error);

    asio::io_context& io_;
    std::shared_ptr<wire::Session> session_;
    wire::ConnectionTable connections_;
    std::map<uint32_t, co::Promise<wire::Message>> pending_;
    uint32_t next_id_ = 1;
    uint64_t next_conn_ = 1;
    wire::HelloOk hello_;
    std::string lost_reason_;
    std::function<void(wire::Message&)> unsolicited_;
    std::function<void()> lost_;
    std::unique_ptr<asio::steady_timer> keep_alive_timer_;
};

// The reply as T, or the error it carries.
template <class T>
Result<T> reply_as(wire::Message&& reply) {
    if (auto* err = std::get_if<wire::ErrorReply>(&reply)) return Error{err->code, err->message};
    if (auto* value = std::get_if<T>(&reply)) return std::move(*value);
    return Error::msg(std::string("unexpected reply from the agent: ") + wire::kind_name(wire::kind_of(reply)), EPROTO);
}

}  // namespace mrd::tracer
