// One client session (a mirrord session): handshake, then its requests and connections. A session
// whose link drops without Goodbye is kept for the time its Hello asked for, detached: its
// subscriptions stay, stolen traffic waits for it, its connections are reset; a new link that
// presents the session's token resumes it.
#pragma once

#include "agent/context.hpp"
#include "agent/file_service.hpp"
#include "agent/incoming.hpp"
#include "wire/connections.hpp"

#include <functional>
#include <memory>
#include <set>

namespace mrd::agent {

class Client : public IncomingSink, public std::enable_shared_from_this<Client> {
public:
    struct Hooks {
        // The handshake succeeded (only sessions count as clients: a probe or a port scan that
        // connects and closes does not).
        std::function<void()> on_greeted;
        // The session ended (a detached one only when its time is up).
        std::function<void(Client*)> on_gone;
        // Its link dropped; the session is kept, but no longer keeps the agent alive by itself.
        std::function<void()> on_unlinked;
        // A Hello asks to resume the session with this token: whether one did, adopting the link.
        std::function<bool(const std::string& token, const std::shared_ptr<wire::Session>& link, uint32_t request_id,
                           const std::string& peer)>
            resume;
    };
    Client(Context& ctx, std::unique_ptr<wire::Transport> transport, std::string peer, Hooks hooks);
    bool greeted() const { return greeted_; }
    bool linked() const { return greeted_ && !detached_ && !ended_; }  // a session with a live link
    const std::string& token() const { return token_; }
    ~Client();
    void start();
    void stop();  // the agent is shutting down
    // Takes over `link` (this session's, resumed), answering its Hello.
    void adopt(std::shared_ptr<wire::Session> link, uint32_t hello_id, const std::string& peer);
    // The link has gone silent for `quiet` (a half-open connection): treated as dropped.
    void drop_if_silent(std::chrono::seconds quiet);

    // IncomingSink
    uint64_t new_incoming_id() override { return wire::kAgentConnBit | next_incoming_++; }
    std::weak_ptr<wire::Outbox> outbox() override { return session_; }
    wire::ConnectionTable& connections() override { return connections_; }
    co::Promise<std::optional<wire::HttpResponse>>::Awaiter http(wire::HttpRequest&& request) override;
    co::Promise<bool>::Awaiter attached() override;
    co::Promise<std::optional<ProgramSocket>>::Awaiter connect_program(uint16_t port, const wire::SocketAddress& remote) override;
    void release_program(uint64_t conn) override;

private:
    void on_message(wire::Envelope&& envelope);
    void on_closed(const Error& error);
    void bind(const std::shared_ptr<wire::Session>& link);
    void unbind();  // the current link closes, and nothing of it reaches this client any more
    void detach(const std::string& why);
    void end();  // released: subscriptions, pending requests, connections
    void release_held(bool linked);
    // Stolen traffic for this client goes to the target's app instead: it ended, or its link has
    // been gone longer than the hold.
    bool traffic_to_app() const { return ended_ || (detached_ && !holding_); }  // stolen traffic that waited for the link: to the client, or the app
    static constexpr std::chrono::seconds kHoldStolenTraffic{5};
    void greet(uint32_t id, const wire::Hello& hello);
    void reply(uint32_t id, wire::Message message);
    void serve_file(uint32_t id, wire::Message request);
    void release_incoming();  // subscriptions and pending stolen requests

    Context& ctx_;
    std::string peer_;
    Hooks hooks_;
    std::unique_ptr<wire::Transport> transport_;  // until start() hands it to the session
    std::shared_ptr<wire::Session> session_;
    wire::ConnectionTable connections_;
    // Owned jointly with the pool tasks that use it; the strand keeps one client's file calls in order.
    std::shared_ptr<FileService> files_;
    asio::strand<asio::thread_pool::executor_type> file_strand_;
    bool greeted_ = false;
    bool leaving_ = false;  // said Goodbye
    bool detached_ = false;
    bool ended_ = false;
    std::string token_;
    std::chrono::milliseconds keep_for_{0};
    asio::steady_timer keep_timer_;
    asio::steady_timer hold_timer_;
    bool holding_ = false;  // stolen traffic waits for the link (the first seconds after it dropped)
    std::vector<std::pair<wire::HttpRequest, co::Promise<std::optional<wire::HttpResponse>>>> held_http_;  // while detached
    std::vector<co::Promise<bool>> attach_waiters_;
    uint64_t id_;
    uint64_t next_incoming_ = 1;
    std::map<wire::Kind, uint64_t> round_trips_;  // requests answered, by kind
    std::map<wire::Kind, uint64_t> streamed_;     // stream messages from the client (a UDP datagram each Data)
    std::map<std::pair<uint64_t, uint64_t>, co::Promise<std::optional<wire::HttpResponse>>> pending_http_;
    std::set<uint16_t> program_ports_;  // subscribed with pass_family on a link that passes descriptors
    std::map<uint64_t, co::Promise<std::optional<ProgramSocket>>> pending_program_;
    void program_connected(wire::ProgramConnected& reply);
    void fail_pending_programs();
};

}  // namespace mrd::agent
