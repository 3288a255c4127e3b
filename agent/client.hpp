// One connected client (a mirrord session): handshake, then its requests and connections.
#pragma once

#include "agent/context.hpp"
#include "agent/file_service.hpp"
#include "agent/incoming.hpp"
#include "wire/connections.hpp"

#include <functional>
#include <memory>

namespace mrd::agent {

class Client : public IncomingSink, public std::enable_shared_from_this<Client> {
public:
    // on_greeted: the handshake succeeded (only sessions count as clients: a probe or a port scan
    // that connects and closes does not); on_gone: the connection ended.
    Client(Context& ctx, std::unique_ptr<wire::Transport> transport, std::string peer, std::function<void()> on_greeted,
           std::function<void(Client*)> on_gone);
    bool greeted() const { return greeted_; }
    ~Client();
    void start();
    void stop();  // the agent is shutting down

    // IncomingSink
    uint64_t new_incoming_id() override { return wire::kAgentConnBit | next_incoming_++; }
    std::weak_ptr<wire::Outbox> outbox() override { return session_; }
    wire::ConnectionTable& connections() override { return connections_; }
    co::Promise<std::optional<wire::HttpResponse>>::Awaiter http(wire::HttpRequest&& request) override;

private:
    void on_message(wire::Envelope&& envelope);
    void on_closed(const Error& error);
    void reply(uint32_t id, wire::Message message);
    void serve_file(uint32_t id, wire::Message request);
    void release_incoming();  // subscriptions and pending stolen requests

    Context& ctx_;
    std::string peer_;
    std::function<void()> on_greeted_;
    std::function<void(Client*)> on_gone_;
    std::unique_ptr<wire::Transport> transport_;  // until start() hands it to the session
    std::shared_ptr<wire::Session> session_;
    wire::ConnectionTable connections_;
    // Owned jointly with the pool tasks that use it; the strand keeps one client's file calls in order.
    std::shared_ptr<FileService> files_;
    asio::strand<asio::thread_pool::executor_type> file_strand_;
    bool greeted_ = false;
    uint64_t id_;
    uint64_t next_incoming_ = 1;
    std::map<std::pair<uint64_t, uint64_t>, co::Promise<std::optional<wire::HttpResponse>>> pending_http_;
};

}  // namespace mrd::agent
