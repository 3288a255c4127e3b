// The supervisor's connection to the agent: request/reply calls that coroutines await, and the
// multiplexed connections (outgoing streams, UDP flows) riding on the same session.
//
// The session outlives its link. When the link drops (a port-forward cut, an idle proxy, a laptop
// that slept) it is reconnected with backoff and the agent's session resumed by its token: calls
// made meanwhile wait for it, calls that were in flight are sent again when repeating them is
// harmless and fail otherwise, connections that rode the old link are reset. If it cannot come
// back within the reconnect budget, remote calls fail (EIO for files, ENETUNREACH for connects).
#pragma once

#include "base/co.hpp"
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
    AgentClient(const AgentClient&) = delete;

    // "unix:PATH", "tcp:HOST:PORT" or "HOST:PORT"; connects and says hello. A TCP link is TLS 1.3:
    // `tls` is this session's identity and the agent's announced fingerprint.
    co::Task<Status> connect(const std::string& address, std::chrono::milliseconds timeout, const AgentTls* tls);
    // How long a dropped link is retried (and the agent asked to keep the session); 0: never.
    void set_reconnect_budget(std::chrono::milliseconds budget) { budget_ = budget; }
    // Says why the way to the agent failed when the connection alone cannot (a port-forward that the
    // API server refused shows here only as a closed socket).
    void set_link_diagnosis(std::function<std::string()> why) { diagnosis_ = std::move(why); }

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
    asio::io_context& io() { return io_; }
    std::weak_ptr<wire::Outbox> outbox() const { return session_; }
    uint64_t new_connection_id() { return next_conn_++; }
    const wire::HelloOk& hello() const { return hello_; }
    bool connected() const { return state_ == State::up && session_ && session_->is_open(); }
    // The link can carry open files (a unix socket: the agent is on this machine).
    bool passes_fds() const { return connected() && session_->passes_fds(); }
    // Given up or closed: remote calls fail from now on.
    bool lost() const { return state_ == State::lost || state_ == State::closed; }
    // Which link carries the session (a new one after each reconnect): what the agent promised to
    // report on one link (FileChanged) it could not report while there was none.
    uint64_t link_generation() const { return link_; }
    // Ends the session on purpose (the agent releases it at once).
    void close();
    // The agent is known to be gone for good (a local agent exited): no reconnecting, remote calls
    // fail from now on, saying why.
    void give_up(const std::string& why);
    // Messages the agent starts (incoming connections, stolen requests).
    void on_unsolicited(std::function<void(wire::Message&)> handler) { unsolicited_ = std::move(handler); }
    // The session is over from the agent's side: it ended, or its link could not be brought back.
    void on_lost(std::function<void()> handler) { lost_ = std::move(handler); }

private:
    enum class State { down, up, reconnecting, lost, closed };
    struct Pending {
        co::Promise<wire::Message> reply;
        wire::Kind kind;
        std::optional<wire::Message> repeat;  // kept for requests that are harmless to send again
    };

    // A new link (transport, session, Hello): fresh, or resuming the session's token.
    co::Task<Status> open_link(std::chrono::milliseconds timeout);
    Error diagnosed(const Error& error) const;
    uint32_t send_now(wire::Message request, co::Promise<wire::Message> reply);
    // Drops the current link: its callbacks ignored, its connections reset; the calls it carried.
    std::map<uint32_t, Pending> cut_link();
    void link_down(const std::string& why);
    co::Task<void> reconnect();
    void fail(Pending& call, const std::string& why);
    // Traffic every few seconds keeps port-forwards and proxies from closing an idle session (the
    // program may sit at a breakpoint for an hour), and finds a link that went silent.
    co::Task<void> keep_alive();
    void on_message(uint64_t link, wire::Envelope&& envelope);
    void on_closed(uint64_t link, const Error& error);

    asio::io_context& io_;
    std::string address_;
    std::optional<AgentTls> tls_;
    std::chrono::milliseconds timeout_{0};
    std::chrono::milliseconds budget_{0};
    State state_ = State::down;
    std::shared_ptr<wire::Session> session_;
    uint64_t link_ = 0;  // which link session_ is: callbacks of an older one are ignored
    wire::ConnectionTable connections_;
    std::map<uint32_t, Pending> pending_;
    std::vector<std::pair<wire::Message, co::Promise<wire::Message>>> waiting_;  // made while reconnecting
    std::vector<wire::Message> waiting_sends_;
    uint32_t next_id_ = 1;
    uint64_t next_conn_ = 1;
    wire::HelloOk hello_;
    std::string lost_reason_;
    bool agent_ended_ = false;
    std::function<void(wire::Message&)> unsolicited_;
    std::function<void()> lost_;
    std::function<std::string()> diagnosis_;
    asio::steady_timer keep_alive_timer_{io_};
    asio::steady_timer retry_timer_{io_};
};

// The reply as T, or the error it carries.
template <class T>
Result<T> reply_as(wire::Message&& reply) {
    if (auto* err = std::get_if<wire::ErrorReply>(&reply)) return Error{err->code, err->message};
    if (auto* value = std::get_if<T>(&reply)) return std::move(*value);
    return Error::msg(std::string("unexpected reply from the agent: ") + wire::kind_name(wire::kind_of(reply)), EPROTO);
}

}  // namespace mrd::tracer
