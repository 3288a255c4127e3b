#include "tracer/agent_client.hpp"

#include "wire/async.hpp"
#include "wire/log.hpp"

#include <unistd.h>

namespace mrd::tracer {

using namespace mrd::wire;

namespace {

// Connects an Asio socket of any protocol, bounded by a timer. The state is shared with the handlers,
// which may run after the coroutine has moved on.
template <class Socket, class Endpoint>
co::Task<std::error_code> connect_with_timeout(asio::io_context& io, Socket& socket, Endpoint endpoint,
                                               std::chrono::milliseconds timeout) {
    struct State {
        State(asio::io_context& io, Socket s) : socket(std::move(s)), timer(io) {}
        Socket socket;
        asio::steady_timer timer;
        bool timed_out = false;
    };
    auto state = std::make_shared<State>(io, std::move(socket));
    co::Promise<std::error_code> done;
    state->timer.expires_after(timeout);
    state->timer.async_wait([state](std::error_code ec) {
        if (ec) return;
        state->timed_out = true;
        std::error_code ignored;
        state->socket.close(ignored);
    });
    state->socket.async_connect(endpoint, [done](std::error_code ec) { done.set(ec); });
    std::error_code ec = co_await done.wait();
    state->timer.cancel();
    if (state->timed_out) ec = asio::error::timed_out;
    socket = std::move(state->socket);
    co_return ec;
}

}  // namespace

co::Task<Status> AgentClient::connect(const std::string& address, std::chrono::milliseconds timeout, const AgentTls* tls) {
    Session::Socket socket(io_);
    bool tcp = address.rfind("unix:", 0) != 0;
    if (tcp && !tls)
        co_return Error::msg("connecting to the agent at " + address + ": a TCP link needs the agent's fingerprint and this "
                             "session's identity (--agent-fingerprint, --agent-identity)", EPERM);
    std::error_code ec;
    if (address.rfind("unix:", 0) == 0) {
        asio::local::stream_protocol::socket s(io_);
        ec = co_await connect_with_timeout(io_, s, asio::local::stream_protocol::endpoint(address.substr(5)), timeout);
        if (!ec) socket = Session::Socket(std::move(s));
    } else {
        std::string hostport = address.rfind("tcp:", 0) == 0 ? address.substr(4) : address;
        auto colon = hostport.rfind(':');
        if (colon == std::string::npos) co_return Error::msg("agent address '" + address + "' has no port", EINVAL);
        std::string host = hostport.substr(0, colon);
        if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
        auto ip = asio::ip::make_address(host, ec);
        std::string port_text = hostport.substr(colon + 1);
        char* end = nullptr;
        unsigned long port = std::strtoul(port_text.c_str(), &end, 10);
        if (ec || port_text.empty() || *end || port == 0 || port > 65535)
            co_return Error::msg("agent address '" + address + "' is not IP:PORT", EINVAL);
        asio::ip::tcp::socket s(io_);
        ec = co_await connect_with_timeout(io_, s, asio::ip::tcp::endpoint(ip, static_cast<uint16_t>(port)), timeout);
        if (!ec) {
            s.set_option(asio::ip::tcp::no_delay(true), ec);
            socket = Session::Socket(std::move(s));
        }
    }
    if (ec) co_return Error{ec.value(), "connecting to the agent at " + address + ": " + ec.message()};

    std::unique_ptr<Transport> transport;
    if (tcp) {
        auto context = pinned_tls_context(tls->self, tls->agent_fingerprint, false);
        if (!context) co_return context.error();
        auto secured = co_await tls_transport(std::move(socket), *context, false, timeout);
        if (!secured) co_return secured.error().context("the agent at " + address + " is not the one this session started");
        transport = std::move(*secured);
    } else {
        transport = plain_transport(std::move(socket));
    }
    session_ = Session::create(std::move(transport), Session::Handlers{
                                                      [this](Envelope&& e) { on_message(std::move(e)); },
                                                      [this](const Error& e) { on_closed(e); },
                                                  });
    session_->start();
    auto hello = reply_as<HelloOk>(
        co_await call<Hello>(kProtocolVersion, "mirrord " MIRRORD_VERSION " pid " + std::to_string(::getpid())));
    if (!hello) {
        if (hello.error().message.find("protocol version") != std::string::npos)
            co_return hello.error().context("agent handshake: this mirrord (" MIRRORD_VERSION ", protocol " + std::to_string(kProtocolVersion) +
                                            ") needs the agent built with it: agent.image mirrord-ptrace-agent:" MIRRORD_VERSION
                                            " (scripts/agent-image)");
        co_return hello.error().context("agent handshake");
    }
    hello_ = hello.value();
    co::spawn(keep_alive());
    co_return Status{};
}

co::Task<void> AgentClient::keep_alive() {
    keep_alive_timer_ = std::make_unique<asio::steady_timer>(io_);
    while (connected()) {
        if (co_await co::sleep(*keep_alive_timer_, std::chrono::seconds(15))) co_return;  // cancelled: closing
        if (!connected()) co_return;
        auto answered = std::make_shared<bool>(false);
        auto ping = [](AgentClient* self, std::shared_ptr<bool> answered) -> co::Task<void> {
            co_await self->call<Ping>();
            *answered = true;
        };
        co::spawn(ping(this, answered));
        if (co_await co::sleep(*keep_alive_timer_, std::chrono::seconds(15))) co_return;
        if (!*answered && connected()) log::warn("the agent has not answered for 15 seconds");
    }
}

co::Promise<Message>::Awaiter AgentClient::send_request(Message request) {
    co::Promise<Message> reply;
    if (!connected()) {
        reply.set(ErrorReply{ECONNRESET, "the agent connection is gone" + lost_reason_});
    } else {
        uint32_t id = next_id_++;
        pending_.emplace(id, reply);
        session_->send(id, std::move(request));
    }
    return reply.wait();
}

void AgentClient::send(Message message) {
    if (connected()) session_->send(0, std::move(message));
}

void AgentClient::on_message(Envelope&& envelope) {
    if (connections_.route(envelope.message)) return;
    if (envelope.id == 0 && unsolicited_) return unsolicited_(envelope.message);
    auto it = pending_.find(envelope.id);
    if (it == pending_.end()) {
        log::debug("agent sent an unexpected ", kind_name(kind_of(envelope.message)), " (id ", envelope.id, ")");
        return;
    }
    auto reply = std::move(it->second);
    pending_.erase(it);
    reply.set(std::move(envelope.message));
}

void AgentClient::on_closed(const Error& error) {
    lost_reason_ = error.message.empty() ? "" : " (" + error.message + ")";
    log::error("lost the connection to the agent", lost_reason_, "; remote operations now fail");
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, reply] : pending) reply.set(ErrorReply{ECONNRESET, "the agent connection was lost" + lost_reason_});
    connections_.close_all(ECONNRESET);
    if (lost_) lost_();
}

void AgentClient::close() {
    if (keep_alive_timer_) keep_alive_timer_->cancel();
    if (session_) session_->close();
    connections_.close_all(0);
    // Calls still waiting get their answer: none will come (a broken promise, not a hang).
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, reply] : pending) reply.set(ErrorReply{ECONNRESET, "the agent session was closed"});
}

}  // namespace mrd::tracer
