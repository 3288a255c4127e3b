#include "agent/client.hpp"

#include "agent/outgoing.hpp"
#include "base/log.hpp"
#include "wire/tls_identity.hpp"

namespace mrd::agent {

using namespace mrd::wire;

namespace {

uint64_t g_next_client = 1;

}  // namespace

Client::Client(Context& ctx, std::unique_ptr<Transport> transport, std::string peer, Hooks hooks)
    : ctx_(ctx), peer_(std::move(peer)), hooks_(std::move(hooks)), transport_(std::move(transport)),
      file_strand_(asio::make_strand(ctx.pool)),
      keep_timer_(ctx.io), hold_timer_(ctx.io), id_(g_next_client++) {}

Client::~Client() { connections_.close_all(0); }

void Client::start() {
    // What this client caches of the target's files is watched; FileChanged tells it what changed.
    auto notify = [weak = weak_from_this()](FileChanged changed) {
        if (auto self = weak.lock()) self->session_->send(0, std::move(changed));
    };
    files_ = std::make_shared<FileService>(ctx_.target.root_fd(), FileWatch::create(ctx_.io, ctx_.target.root_fd(), notify));
    bind(Session::create(std::move(transport_), {}));
    session_->start();
    log::info("client ", peer_, " connected");
}

void Client::bind(const std::shared_ptr<Session>& link) {
    session_ = link;
    std::weak_ptr<Client> weak = weak_from_this();
    // The session is reached through weak references: the client owns it, not the other way round.
    session_->set_handlers(Session::Handlers{
        [weak](Envelope&& e) { if (auto self = weak.lock()) self->on_message(std::move(e)); },
        [weak](const Error& e) { if (auto self = weak.lock()) self->on_closed(e); },
    });
}

void Client::unbind() {
    session_->set_handlers({});
    session_->close();
}

void Client::stop() {
    leaving_ = true;
    session_->send(0, Goodbye{});  // not a dropped link: the client does not try to come back
    session_->close();
    end();
}

void Client::release_incoming() {
    if (ctx_.incoming) ctx_.incoming->client_gone(id_);
    auto pending = std::move(pending_http_);
    pending_http_.clear();
    for (auto& [key, promise] : pending) promise.set(std::nullopt);
    fail_pending_programs();
    program_ports_.clear();
    release_held(false);
}

co::Promise<std::optional<IncomingSink::ProgramSocket>>::Awaiter Client::connect_program(uint16_t port, const SocketAddress& remote) {
    co::Promise<std::optional<ProgramSocket>> connected;
    if (!linked() || !program_ports_.count(port) || !session_->passes_fds()) {
        connected.set(std::nullopt);
    } else {
        uint64_t conn = new_incoming_id();
        pending_program_.emplace(conn, connected);
        session_->send(0, ProgramConnect{conn, port, remote});
    }
    return connected.wait();
}

void Client::program_connected(ProgramConnected& reply) {
    auto it = pending_program_.find(reply.conn);
    if (it == pending_program_.end()) return;
    auto promise = std::move(it->second);
    pending_program_.erase(it);
    UniqueFd fd = reply.fd ? std::move(*reply.fd) : UniqueFd();
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (reply.error || !fd.ok() || ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        if (!reply.error) log::warn("client ", peer_, ": the connection to its program did not come with its answer");
        return promise.set(std::nullopt);
    }
    asio::ip::tcp::socket socket(ctx_.io);
    std::error_code ec;
    socket.assign(address.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd.get(), ec);
    if (ec) return promise.set(std::nullopt);
    (void)fd.release();  // the socket's now
    promise.set(ProgramSocket{reply.conn, std::move(socket)});
}

void Client::release_program(uint64_t conn) {
    if (linked()) session_->send(0, Close{conn, 0});
}

void Client::fail_pending_programs() {
    auto pending = std::move(pending_program_);
    pending_program_.clear();
    for (auto& [conn, promise] : pending) promise.set(std::nullopt);
}

co::Promise<std::optional<HttpResponse>>::Awaiter Client::http(HttpRequest&& request) {
    co::Promise<std::optional<HttpResponse>> response;
    if (traffic_to_app()) {
        response.set(std::nullopt);
    } else if (detached_) {
        held_http_.emplace_back(std::move(request), response);  // sent when the session is resumed
    } else {
        pending_http_.emplace(std::make_pair(request.conn, request.request), response);
        session_->send(0, std::move(request));
    }
    return response.wait();
}

co::Promise<bool>::Awaiter Client::attached() {
    co::Promise<bool> up;
    if (traffic_to_app()) up.set(false);
    else if (!detached_) up.set(true);
    else attach_waiters_.push_back(up);
    return up.wait();
}

void Client::on_closed(const Error& error) {
    std::string why = error.message.empty() ? "the link closed" : error.message;
    if (greeted_ && !leaving_ && keep_for_.count() > 0) return detach(why);
    // After its Goodbye a client closes when it likes: a reply still being written may find it gone.
    if (!error.message.empty()) log::at(leaving_ ? log::Level::debug : log::Level::warn, "client ", peer_, ": ", error.message);
    log::info("client ", peer_, " disconnected");
    end();
}

void Client::detach(const std::string& why) {
    if (detached_ || ended_) return;
    detached_ = true;
    log::info("client ", peer_, ": ", why, "; keeping its session for ", keep_for_.count(), " ms to be resumed");
    // Connections cannot survive their link: both ends see them reset.
    connections_.close_all(ECONNRESET);
    fail_pending_programs();  // their answers went with the link
    keep_timer_.expires_after(keep_for_);
    std::weak_ptr<Client> weak = weak_from_this();
    // A blip is bridged: stolen traffic waits for the link a few seconds. A client that is gone for
    // good (killed) does not keep the target's traffic waiting longer: after that it goes to the app.
    holding_ = true;
    hold_timer_.expires_after(std::min<std::chrono::milliseconds>(keep_for_, kHoldStolenTraffic));
    hold_timer_.async_wait([weak](std::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->detached_) return;
        self->holding_ = false;
        self->release_held(false);
    });
    if (hooks_.on_unlinked) hooks_.on_unlinked();
    keep_timer_.async_wait([weak](std::error_code ec) {
        auto self = weak.lock();
        if (ec || !self || !self->detached_) return;
        log::info("client ", self->peer_, ": not resumed in time; its session ends");
        self->end();
    });
}

void Client::adopt(std::shared_ptr<Session> link, uint32_t hello_id, const std::string& peer) {
    if (!detached_) {  // the old link has not noticed its end yet (half-open, or not read so far)
        Error how = session_->end_now();
        log::info("client ", peer_, ": ", how.message.empty() ? "the link closed" : how.message, "; replaced by ", peer);
        connections_.close_all(ECONNRESET);
    }
    keep_timer_.cancel();
    hold_timer_.cancel();
    detached_ = false;
    holding_ = false;
    peer_ = peer;
    bind(link);
    if (hooks_.on_greeted) hooks_.on_greeted();
    log::info("client ", peer_, " resumed its session");
    reply(hello_id, HelloOk{kProtocolVersion, MIRRORD_VERSION, ctx_.hostname, ctx_.target.pid(), token_, true});
    release_held(true);
}

void Client::release_held(bool linked) {
    auto held = std::move(held_http_);
    held_http_.clear();
    for (auto& [request, promise] : held) {
        if (!linked) {
            promise.set(std::nullopt);  // to the target's app
            continue;
        }
        pending_http_.emplace(std::make_pair(request.conn, request.request), promise);
        session_->send(0, std::move(request));
    }
    auto waiters = std::move(attach_waiters_);
    attach_waiters_.clear();
    for (auto& w : waiters) w.set(linked);
}

void Client::drop_if_silent(std::chrono::seconds quiet) {
    if (!greeted_ || detached_ || ended_ || !session_->is_open()) return;
    if (std::chrono::steady_clock::now() - session_->last_heard() < quiet) return;
    unbind();
    on_closed(Error::msg("nothing heard for " + std::to_string(quiet.count()) + " s"));
}

void Client::end() {
    if (ended_) return;
    ended_ = true;
    if (greeted_) {
        // What the session cost in round trips, by request (--log-level info): where time went on a slow link.
        auto listed = [](const std::map<Kind, uint64_t>& counts) {  // "FileOpen 2, FileStat 9"
            std::string out;
            for (auto& [kind, n] : counts) out += std::string(out.empty() ? "" : ", ") + kind_name(kind) + " " + std::to_string(n);
            return out;
        };
        uint64_t total = 0;
        for (auto& [kind, n] : round_trips_) total += n;
        std::string counts = listed(round_trips_), streamed = listed(streamed_);
        log::info("client ", peer_, ": ", total, " round trips", counts.empty() ? "" : " (" + counts + ")",
                  streamed.empty() ? "" : "; streamed " + streamed);
    }
    detached_ = false;
    keep_timer_.cancel();
    hold_timer_.cancel();
    release_incoming();
    connections_.close_all(0);
    if (hooks_.on_gone) hooks_.on_gone(this);
}

void Client::greet(uint32_t id, const Hello& hello) {
    if (hello.protocol_version != kProtocolVersion) {
        reply(id, ErrorReply{EPROTO, "protocol version " + std::to_string(hello.protocol_version) +
                                         " is not supported; this agent speaks " + std::to_string(kProtocolVersion)});
        return session_->close();
    }
    if (!hello.resume_token.empty()) {
        // This link belongs to an earlier session: it adopts the link, this client was only its doorway.
        auto link = session_;
        if (hooks_.resume && hooks_.resume(hello.resume_token, link, id, peer_)) {
            ended_ = true;  // nothing of its own to release
            if (hooks_.on_gone) hooks_.on_gone(this);
            return;
        }
        reply(id, ErrorReply{ESTALE, "no session to resume (it ended, or this agent restarted)"});
        return session_->close();
    }
    greeted_ = true;
    keep_for_ = std::chrono::milliseconds(hello.keep_for_ms);
    token_ = random_token();  // only an authenticated client can present it; unguessable all the same
    log::info("client ", peer_, " is ", hello.client);
    if (hooks_.on_greeted) hooks_.on_greeted();
    reply(id, HelloOk{kProtocolVersion, MIRRORD_VERSION, ctx_.hostname, ctx_.target.pid(), token_, false});
}

void Client::reply(uint32_t id, Message message) { session_->send(id, std::move(message)); }

void Client::on_message(Envelope&& envelope) {
    Message& m = envelope.message;
    uint32_t id = envelope.id;
    if (!greeted_) {
        if (auto* hello = std::get_if<Hello>(&m)) return greet(id, *hello);
        reply(id, ErrorReply{EPROTO, "expected Hello first"});
        return session_->close();
    }
    Kind kind = kind_of(m);
    if (connections_.route(m)) {
        ++streamed_[kind];
        return;
    }
    if (id != 0) ++round_trips_[kind];  // a request: one round trip for the client
    if (!session_->passes_fds()) {  // a TCP link: nothing is passed over it
        if (auto* open = std::get_if<FileOpen>(&m)) open->pass_from_size = 0;
        if (auto* subscribe = std::get_if<PortSubscribe>(&m)) subscribe->pass_family = 0;
        if (auto* connect = std::get_if<TcpConnect>(&m)) connect->pass_family = 0;
    }
    if (FileService::handles(kind)) return serve_file(id, std::move(m));

    auto self = shared_from_this();
    auto reply_later = [self, id](Message message) { self->reply(id, std::move(message)); };
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, Ping>) {
                reply(id, Pong{});
            } else if constexpr (std::is_same_v<T, Goodbye>) {
                leaving_ = true;
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
                if (st && msg.pass_family) program_ports_.insert(msg.port);
                else if (st) program_ports_.erase(msg.port);
                if (st) reply(id, PortSubscribed{msg.port});
                else reply(id, ErrorReply{st.error().code, st.error().message});
            } else if constexpr (std::is_same_v<T, PortUnsubscribe>) {
                if (ctx_.incoming) ctx_.incoming->unsubscribe(id_, msg.port);
                program_ports_.erase(msg.port);
                reply(id, Ok{});
            } else if constexpr (std::is_same_v<T, ProgramConnected>) {
                program_connected(msg);
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
