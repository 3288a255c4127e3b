#include "tracer/remote/agent_client.hpp"

#include "tracer/remote/progress_line.hpp"
#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

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

// The byte stream to the agent at `address`: a unix socket, or TLS 1.3 pinned both ways over TCP.
co::Task<Result<std::unique_ptr<Transport>>> open_transport(asio::io_context& io, const std::string& address,
                                                            std::chrono::milliseconds timeout, const AgentTls* tls) {
    Session::Socket socket(io);
    bool tcp = address.rfind("unix:", 0) != 0;
    if (tcp && !tls)
        co_return Error::msg("connecting to the agent at " + address + ": a TCP link needs the agent's fingerprint and this "
                             "session's identity (--agent-fingerprint, --agent-identity)", EPERM);
    std::error_code ec;
    if (!tcp) {
        asio::local::stream_protocol::socket s(io);
        ec = co_await connect_with_timeout(io, s, asio::local::stream_protocol::endpoint(address.substr(5)), timeout);
        if (!ec) socket = Session::Socket(std::move(s));
    } else {
        auto hostport = split_host_port(address.rfind("tcp:", 0) == 0 ? address.substr(4) : address);
        auto ip = hostport ? asio::ip::make_address(hostport->host, ec) : asio::ip::address();
        if (!hostport || ec || hostport->port == 0) co_return Error::msg("agent address '" + address + "' is not IP:PORT", EINVAL);
        asio::ip::tcp::socket s(io);
        ec = co_await connect_with_timeout(io, s, asio::ip::tcp::endpoint(ip, hostport->port), timeout);
        if (!ec) {
            s.set_option(asio::ip::tcp::no_delay(true), ec);
            socket = Session::Socket(std::move(s));
        }
    }
    if (ec) co_return Error{ec.value(), "connecting to the agent at " + address + ": " + ec.message()};
    if (!tcp) co_return plain_transport(std::move(socket));
    auto context = pinned_tls_context(tls->self, tls->agent_fingerprint, false);
    if (!context) co_return context.error();
    auto secured = co_await tls_transport(std::move(socket), *context, false, timeout);
    if (!secured) co_return secured.error().context("the agent at " + address + " is not the one this session started");
    co_return std::move(*secured);
}

// Requests whose repetition changes nothing: sent again after a reconnect if their answer was lost.
bool harmless_to_repeat(const Message& m) {
    switch (kind_of(m)) {
        case Kind::EnvGet: case Kind::DnsLookup: case Kind::FileStat: case Kind::FileFstat: case Kind::FileRead:
        case Kind::ReadLink: case Kind::Access: case Kind::StatFs:
            return true;
        case Kind::FileOpen: {  // reading only: at worst the agent holds one more handle
            int flags = std::get<FileOpen>(m).flags;
            return (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC | O_EXCL));
        }
        default:
            return false;
    }
}

// What a call gets when the agent cannot be reached: what the kernel says for a network filesystem
// or a network that is gone.
int unreachable_errno(Kind kind) {
    auto k = static_cast<uint16_t>(kind);
    if (k >= static_cast<uint16_t>(Kind::FileOpen) && k < static_cast<uint16_t>(Kind::EnvGet)) return EIO;
    if (kind == Kind::TcpConnect || kind == Kind::UdpConnect || kind == Kind::UnixConnect) return ENETUNREACH;
    return ECONNRESET;
}

std::string seconds_text(std::chrono::steady_clock::duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
    return text;
}

}  // namespace

co::Task<Status> AgentClient::connect(const std::string& address, std::chrono::milliseconds timeout, const AgentTls* tls) {
    address_ = address;
    timeout_ = timeout;
    if (tls) tls_ = *tls;
    auto st = co_await open_link(timeout);
    if (!st) co_return st;
    state_ = State::up;
    co::spawn(keep_alive());
    co_return Status{};
}

co::Task<Status> AgentClient::open_link(std::chrono::milliseconds timeout) {
    auto transport = co_await open_transport(io_, address_, timeout, tls_ ? &*tls_ : nullptr);
    if (!transport) co_return diagnosed(transport.error());
    if (state_ == State::closed) co_return Error::msg("the agent session was closed", ECONNRESET);  // while connecting
    uint64_t link = ++link_;
    session_ = Session::create(std::move(*transport), Session::Handlers{
                                                          [this, link](Envelope&& e) { on_message(link, std::move(e)); },
                                                          [this, link](const Error& e) { on_closed(link, e); },
                                                      });
    session_->start();
    // Kept a little longer than we try, so that the last attempt still finds it.
    auto keep_for = budget_.count() > 0 ? budget_ + std::chrono::seconds(10) : std::chrono::milliseconds(0);
    Hello hello{kProtocolVersion, "mirrord " MIRRORD_VERSION " pid " + std::to_string(::getpid()),
                static_cast<uint32_t>(keep_for.count()), hello_.session_token};
    co::Promise<Message> answer;
    send_now(Message(std::move(hello)), answer);
    auto reply = reply_as<HelloOk>(co_await answer.wait());
    if (!reply) {
        session_->close();
        if (reply.error().code == ECONNRESET) co_return diagnosed(reply.error());
        if (reply.error().message.find("protocol version") != std::string::npos)
            co_return reply.error().context("agent handshake: this mirrord (" MIRRORD_VERSION ", protocol " + std::to_string(kProtocolVersion) +
                                            ") needs the agent built with it: agent.image mirrord-ptrace-agent:" MIRRORD_VERSION
                                            " (scripts/agent-image)");
        co_return reply.error().context("agent handshake");
    }
    hello_ = reply.value();
    co_return Status{};
}

Error AgentClient::diagnosed(const Error& error) const {
    std::string why = diagnosis_ ? diagnosis_() : "";
    return why.empty() ? error : Error{error.code, why};
}

uint32_t AgentClient::send_now(Message request, co::Promise<Message> reply) {
    uint32_t id = next_id_++;
    Kind kind = kind_of(request);
    std::optional<Message> repeat;
    if (budget_.count() > 0 && harmless_to_repeat(request)) repeat = request;
    pending_.emplace(id, Pending{reply, kind, std::move(repeat)});
    session_->send(id, std::move(request));
    return id;
}

co::Promise<Message>::Awaiter AgentClient::send_request(Message request) {
    co::Promise<Message> reply;
    if (state_ == State::reconnecting) {
        waiting_.emplace_back(std::move(request), reply);
    } else if (!connected()) {
        reply.set(ErrorReply{unreachable_errno(kind_of(request)), "the agent cannot be reached" + lost_reason_});
    } else {
        send_now(std::move(request), reply);
    }
    return reply.wait();
}

void AgentClient::send(Message message) {
    if (state_ == State::reconnecting) waiting_sends_.push_back(std::move(message));  // a stolen request's answer
    else if (connected()) session_->send(0, std::move(message));
}

co::Task<void> AgentClient::keep_alive() {
    auto ping_out = std::make_shared<bool>(false);
    while (state_ != State::closed && state_ != State::lost) {
        if (co_await co::sleep(keep_alive_timer_, std::chrono::seconds(5))) co_return;  // cancelled: closing
        if (state_ != State::up || !session_) continue;
        auto quiet = std::chrono::steady_clock::now() - session_->last_heard();
        if (quiet >= std::chrono::seconds(30)) {
            link_down("nothing heard from the agent for " + seconds_text(quiet));
            continue;
        }
        if (quiet >= std::chrono::seconds(10) && !*ping_out) {
            *ping_out = true;
            auto ping = [](AgentClient* self, std::shared_ptr<bool> out) -> co::Task<void> {
                co_await self->call<Ping>();
                *out = false;
            };
            co::spawn(ping(this, ping_out));
        }
    }
}

void AgentClient::on_message(uint64_t link, Envelope&& envelope) {
    if (link != link_) return;
    if (std::holds_alternative<Goodbye>(envelope.message)) {
        agent_ended_ = true;  // shutting down: its link's end is not a drop
        return;
    }
    if (connections_.route(envelope.message)) return;
    if (envelope.id == 0 && unsolicited_) return unsolicited_(envelope.message);
    auto it = pending_.find(envelope.id);
    if (it == pending_.end()) {
        log::debug("agent sent an unexpected ", kind_name(kind_of(envelope.message)), " (id ", envelope.id, ")");
        return;
    }
    auto reply = std::move(it->second.reply);
    pending_.erase(it);
    reply.set(std::move(envelope.message));
}

void AgentClient::on_closed(uint64_t link, const Error& error) {
    if (link != link_) return;
    std::string why = agent_ended_ ? "the agent ended the session" : error.message.empty() ? "the link closed" : error.message;
    if (state_ == State::up) return link_down(why);
    // A link that dies during its own handshake: the handshake fails, the reconnect loop goes on.
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, call] : pending) fail(call, why);
}

void AgentClient::fail(Pending& call, const std::string& why) {
    call.reply.set(ErrorReply{unreachable_errno(call.kind), "the link to the agent was lost (" + why + ")"});
}

std::map<uint32_t, AgentClient::Pending> AgentClient::cut_link() {
    ++link_;  // the old link's callbacks are ignored from here
    if (session_) session_->close();
    session_.reset();
    connections_.close_all(ECONNRESET);  // the program sees its open connections reset
    auto pending = std::move(pending_);
    pending_.clear();
    return pending;
}

void AgentClient::link_down(const std::string& why) {
    auto pending = cut_link();
    if (budget_.count() == 0 || hello_.session_token.empty() || agent_ended_) {
        for (auto& [id, call] : pending) fail(call, why);
        return give_up(why);
    }
    state_ = State::reconnecting;
    log::warn("lost the link to the agent (", why, "); reconnecting for up to ", seconds_text(budget_));
    for (auto& [id, call] : pending) {
        if (call.repeat) waiting_.emplace_back(std::move(*call.repeat), call.reply);
        else fail(call, why);
    }
    co::spawn(reconnect());
}

co::Task<void> AgentClient::reconnect() {
    auto started = std::chrono::steady_clock::now();
    auto deadline = started + budget_;
    std::chrono::milliseconds delay(100);
    std::string last_error;
    std::optional<ProgressLine> progress(std::in_place);  // erased before the line that says it is back
    for (int attempt = 1;; ++attempt) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        progress->update([&] {
            return "reconnecting to the agent: " + seconds_text(std::chrono::steady_clock::now() - started) + ", attempt " +
                   std::to_string(attempt) + (last_error.empty() ? "" : " (" + last_error + ")");
        });
        auto st = co_await open_link(std::min(timeout_, left));
        if (state_ != State::reconnecting) co_return;  // closed meanwhile
        if (st) {
            state_ = State::up;
            progress.reset();
            log::warn("the link to the agent is back after ", seconds_text(std::chrono::steady_clock::now() - started),
                      " (attempt ", attempt, ")");
            auto waiting = std::move(waiting_);
            waiting_.clear();
            for (auto& [request, reply] : waiting) send_now(std::move(request), reply);
            auto sends = std::move(waiting_sends_);
            waiting_sends_.clear();
            for (auto& m : sends) session_->send(0, std::move(m));
            co_return;
        }
        last_error = st.error().message;
        log::debug("reconnect attempt ", attempt, ": ", last_error);
        if (st.error().code == ESTALE) break;  // the agent no longer has the session
        if (std::chrono::steady_clock::now() + delay >= deadline) break;
        if (co_await co::sleep(retry_timer_, delay)) co_return;  // cancelled: closing
        delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    }
    progress.reset();
    give_up("not back within " + seconds_text(budget_) + (last_error.empty() ? "" : ": " + last_error));
}

void AgentClient::give_up(const std::string& why) {
    if (state_ == State::lost || state_ == State::closed) return;
    if (state_ == State::up)  // its link may not have noticed yet
        for (auto& [id, call] : cut_link()) fail(call, why);
    retry_timer_.cancel();
    state_ = State::lost;
    lost_reason_ = " (" + why + ")";
    log::error("lost the connection to the agent", lost_reason_, "; remote operations now fail");
    auto waiting = std::move(waiting_);
    waiting_.clear();
    waiting_sends_.clear();
    for (auto& [request, reply] : waiting)
        reply.set(ErrorReply{unreachable_errno(kind_of(request)), "the agent cannot be reached" + lost_reason_});
    if (lost_) lost_();
}

void AgentClient::close() {
    if (state_ == State::closed) return;
    bool was_up = connected();
    state_ = State::closed;
    keep_alive_timer_.cancel();
    retry_timer_.cancel();
    if (was_up) session_->send(0, Goodbye{});  // released at once, not kept for a reconnect
    if (session_) session_->close();
    connections_.close_all(0);
    // Calls still waiting get their answer: none will come (a broken promise, not a hang).
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, call] : pending) call.reply.set(ErrorReply{ECONNRESET, "the agent session was closed"});
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& [request, reply] : waiting) reply.set(ErrorReply{ECONNRESET, "the agent session was closed"});
}

}  // namespace mrd::tracer
