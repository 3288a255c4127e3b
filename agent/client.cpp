#include "agent/client.hpp"

#include "agent/outgoing.hpp"
#include "wire/log.hpp"

namespace mrd::agent {

using namespace mrd::wire;

namespace {
uint64_t g_next_client = 1;
}  // namespace

Client::Client(Context& ctx, std::unique_ptr<Transport> transport, std::string peer, std::function<void()> on_greeted,
               std::function<void(Client*)> on_gone)
    : ctx_(ctx), peer_(std::move(peer)), on_greeted_(std::move(on_greeted)), on_gone_(std::move(on_gone)),
      transport_(std::move(transport)), files_(std::make_shared<FileService>(ctx.target.root_fd())),
      file_strand_(asio::make_strand(ctx.pool)), id_(g_next_client++) {}

Client::~Client() { connections_.close_all(0); }

void Client::start() {
    std::weak_ptr<Client> weak = weak_from_this();
    // The session is reached through weak references: the client owns it, not the other way round.
    session_ = Session::create(std::move(transport_),
                               Session::Handlers{
                                   [weak](Envelope&& e) { if (auto self = weak.lock()) self->on_message(std::move(e)); },
                                   [weak](const Error& e) { if (auto self = weak.lock()) self->on_closed(e); },
                               });
    session_->start();
    log::info("client ", peer_, " connected");
}

void Client::stop() {
    release_incoming();
    connections_.close_all(0);
    session_->close();
}

void Client::release_incoming() {
    if (ctx_.incoming) ctx_.incoming->client_gone(id_);
    auto pending = std::move(pending_http_);
    pending_http_.clear();
    for (auto& [key, promise] : pending) promise.set(std::nullopt);
}

co::Promise<std::optional<HttpResponse>>::Awaiter Client::http(HttpRequest&& request) {
    co::Promise<std::optional<HttpResponse>> response;
    if (!session_ || !session_->is_open()) {
        response.set(std::nullopt);
    } else {
        pending_http_.emplace(std::make_pair(request.conn, request.request), response);
        session_->send(0, std::move(request));
    }
    return response.wait();
}

void Client::on_closed(const Error& error) {
    if (!error.message.empty()) log::warn("client ", peer_, ": ", error.message);
    log::info("client ", peer_, " disconnected");
    release_incoming();
    connections_.close_all(0);
    if (on_gone_) on_gone_(this);
}

void Client::reply(uint32_t id, Message message) { session_->send(id, std::move(message)); }

void Client::on_message(Envelope&& envelope) {
    Message& m = envelope.message;
    uint32_t id = envelope.id;
    if (!greeted_) {
        auto* hello = std::get_if<Hello>(&m);
        if (!hello) {
            reply(id, ErrorReply{EPROTO, "expected Hello first"});
            return session_->close();
        }
        if (hello->protocol_version != kProtocolVersion) {
            reply(id, ErrorReply{EPROTO, "protocol version " + std::to_string(hello->protocol_version) +
                                             " is not supported; this agent speaks " + std::to_string(kProtocolVersion)});
            return session_->close();
        }
        greeted_ = true;
        log::info("client ", peer_, " is ", hello->client);
        if (on_greeted_) on_greeted_();
        return reply(id, HelloOk{kProtocolVersion, MIRRORD_VERSION, ctx_.hostname, ctx_.target.pid()});
    }
    if (connections_.route(m)) return;
    if (FileService::handles(kind_of(m))) return serve_file(id, std::move(m));

    auto self = shared_from_this();
    auto reply_later = [self, id](Message message) { self->reply(id, std::move(message)); };
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, Ping>) {
                reply(id, Pong{});
            } else if constexpr (std::is_same_v<T, EnvGet>) {
                auto vars = ctx_.target.environment();
                if (!vars) return reply(id, ErrorReply{vars.error().code, vars.error().message});
                reply(id, EnvReply{std::move(vars.value())});
            } else if constexpr (std::is_same_v<T, DnsLookup>) {
                asio::post(ctx_.pool, [&ctx = ctx_, msg, reply_later]() {
                    auto found = ctx.resolver.lookup(msg.name, msg.family);
                    Message answer = found ? Message{DnsReply{found.value()}}
                                           : Message{ErrorReply{found.error().code, found.error().message}};
                    asio::post(ctx.io, [reply_later, answer = std::move(answer)]() mutable { reply_later(std::move(answer)); });
                });
            } else if constexpr (std::is_same_v<T, TcpConnect>) {
                connect_tcp(ctx_, msg, session_, connections_, reply_later);
            } else if constexpr (std::is_same_v<T, UnixConnect>) {
                connect_unix(ctx_, msg, session_, connections_, reply_later);
            } else if constexpr (std::is_same_v<T, UdpConnect>) {
                connect_udp(ctx_, msg, session_, connections_, reply_later);
            } else if constexpr (std::is_same_v<T, PortSubscribe>) {
                Status st = ctx_.incoming ? ctx_.incoming->subscribe(id_, weak_from_this(), msg)
                                          : Status(Error::msg("a targetless agent has no incoming traffic", ENOTSUP));
                if (st) reply(id, PortSubscribed{msg.port});
                else reply(id, ErrorReply{st.error().code, st.error().message});
            } else if constexpr (std::is_same_v<T, PortUnsubscribe>) {
                if (ctx_.incoming) ctx_.incoming->unsubscribe(id_, msg.port);
                reply(id, Ok{});
            } else if constexpr (std::is_same_v<T, HttpResponse>) {
                auto it = pending_http_.find({msg.conn, msg.request});
                if (it != pending_http_.end()) {
                    auto promise = std::move(it->second);
                    pending_http_.erase(it);
                    promise.set(std::move(msg));
                }
            } else {
                reply(id, ErrorReply{EPROTO, std::string("unexpected message ") + kind_name(T::kind)});
            }
        },
        m);
}

void Client::serve_file(uint32_t id, Message request) {
    auto self = shared_from_this();
    asio::post(file_strand_, [self, files = files_, id, request = std::move(request)]() {
        Message answer = files->serve(request);
        asio::post(self->ctx_.io, [self, id, answer = std::move(answer)]() mutable { self->reply(id, std::move(answer)); });
    });
}

}  // namespace mrd::agent
