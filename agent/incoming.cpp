#include "agent/incoming.hpp"

#include "agent/filtered_h2.hpp"
#include "agent/http_mirror.hpp"
#include "agent/incoming_relay.hpp"
#include "agent/packet_capture.hpp"

#include "wire/address.hpp"
#include "base/async.hpp"
#include "http/h2.hpp"
#include "http/http1.hpp"
#include "base/log.hpp"

#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace mrd::agent {

using namespace mrd::wire;
using namespace mrd::http;
using asio::ip::tcp;

namespace {

constexpr size_t kMaxStolenRequest = 8u << 20;  // a matched request travels whole, in one message

// Whether a complete response, as bytes, lets the connection carry on.
bool response_keeps_alive(const Bytes& response) {
    Http1Parser parser(Http1Parser::Kind::response);
    auto step = parser.feed(response.data(), response.size());
    size_t used = step.consumed;
    while (!step.error && !step.message_done && used < response.size()) {
        step = parser.feed(response.data() + used, response.size() - used);
        used += step.consumed;
    }
    if (!step.message_done) step = parser.finish();
    return step.message_done && parser.keep_alive();
}

// One connection on a port with HTTP filters: request by request, to a client or to the application.
class FilteredConnection {
public:
    FilteredConnection(asio::io_context& io, tcp::socket peer, tcp::endpoint destination, std::vector<std::pair<std::weak_ptr<IncomingSink>, HttpMatcher>> filters)
        : io_(io), peer_(std::make_shared<tcp::socket>(std::move(peer))), destination_(destination),
          filters_(std::move(filters)), buffer_(64 * 1024) {
        std::error_code ec;
        remote_ = peer_->remote_endpoint(ec);
    }
    ~FilteredConnection() { drop_program(); }

    co::Task<void> run() {
        // HTTP/2 with prior knowledge starts with its preface; anything else is taken for HTTP/1.
        if (!co_await read_peer()) co_return finish();
        while (starts_like_h2(pending_) && pending_.size() < sizeof kH2Preface - 1)
            if (!co_await read_peer()) co_return finish();
        if (starts_like_h2(pending_)) {
            co_await serve_filtered_h2(io_, peer_, destination_, filters_, std::move(pending_));
            co_return;
        }
        for (uint64_t sequence = 0;; ++sequence) {
            message_.clear();
            // The request's head.
            bool head = false;
            while (!head) {
                if (pending_.empty()) {
                    if (!co_await read_peer()) co_return finish();
                }
                auto step = request_.feed(pending_.data(), pending_.size());
                take(step.consumed);
                if (step.error) {
                    if (sequence == 0 && !app_) co_return co_await pass_through("not HTTP/1: " + request_.error());
                    co_return finish();
                }
                head = step.headers_done || step.message_done;
                if (step.message_done) request_done_ = true;
            }
            const HttpHead& h = request_.head();
            std::shared_ptr<IncomingSink> client;
            if (!request_.upgrade())
                for (auto& [sink, matcher] : filters_)
                    if (matcher.matches(h))
                        if ((client = sink.lock())) break;
            bool keep;
            if (client) {
                if (!co_await read_whole_request()) co_return finish();
                if (message_.size() > kMaxStolenRequest) {
                    co_await write_peer(simple_http_response(413, "Payload Too Large", "mirrord: request too large to steal\n"));
                    co_return finish();
                }
                if (auto direct = co_await to_program(client, h.method == "HEAD")) {
                    keep = *direct;
                } else {
                    bool request_keep = request_.keep_alive();
                    if (!conn_) conn_ = client->new_incoming_id();
                    HttpRequest request{conn_, sequence, destination_.port(), from_endpoint(remote_), bytes_of(message_)};
                    auto response = co_await client->http(std::move(request));
                    if (!response) {
                        log::warn("incoming: the client that matched a request is gone; it goes to the application");
                        keep = co_await to_application(h.method == "HEAD");
                    } else {
                        if (!co_await write_peer(std::string(response->bytes.begin(), response->bytes.end()))) co_return finish();
                        keep = request_keep && response_keeps_alive(response->bytes);
                    }
                }
            } else {
                keep = co_await to_application(h.method == "HEAD");
            }
            if (upgraded_) co_return drop_program();
            if (!keep) co_return finish();
            request_.next_message();
            request_done_ = false;
        }
    }

private:
    void take(size_t n) {
        message_.insert(message_.end(), pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    }

    co::Task<bool> read_peer() {
        auto r = co_await co::read_some(*peer_, asio::buffer(buffer_));
        if (r.error) co_return false;
        pending_.insert(pending_.end(), buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(r.bytes));
        co_return true;
    }

    co::Task<bool> write_peer(std::string bytes) {
        auto w = co_await co::write_all(*peer_, asio::buffer(bytes));
        co_return !w.error;
    }

    co::Task<bool> read_whole_request() {
        while (!request_done_) {
            if (pending_.empty())
                if (!co_await read_peer()) co_return false;
            auto step = request_.feed(pending_.data(), pending_.size());
            take(step.consumed);
            if (step.error) co_return false;
            request_done_ = step.message_done;
            if (message_.size() > kMaxStolenRequest) co_return true;
        }
        co_return true;
    }

    co::Task<bool> ensure_app() {
        if (app_) co_return true;
        auto socket = co_await connect_upstream(io_, destination_);
        if (!socket) co_return false;
        app_ = std::make_shared<tcp::socket>(std::move(*socket));
        co_return true;
    }

    // Sends the current request (what is read of it, then the rest as it comes) to the application
    // and its response back. False when the connection must end.
    co::Task<bool> to_application(bool head_request) {
        if (!co_await ensure_app()) {
            co_await write_peer(simple_http_response(502, "Bad Gateway", "mirrord: the application is unreachable\n"));
            co_return false;
        }
        if (!co_await write_app(message_)) co_return false;
        while (!request_done_) {
            if (pending_.empty())
                if (!co_await read_peer()) co_return false;
            message_.clear();
            auto step = request_.feed(pending_.data(), pending_.size());
            take(step.consumed);
            if (step.error) co_return false;
            request_done_ = step.message_done;
            if (!co_await write_app(message_)) co_return false;
        }
        if (request_.upgrade()) co_return co_await upgrade(app_);
        auto answered = co_await answer(app_, head_request);
        co_return answered.value_or(false);  // nothing back: the application closed, and so does this connection
    }

    // The current request, read whole (message_), to the program of the client whose filter it
    // matched, on a connection of the client's (IncomingSink::connect_program) kept for the next
    // ones. nullopt when the client gives none: the request goes as a message.
    co::Task<std::optional<bool>> to_program(const std::shared_ptr<IncomingSink>& client, bool head_request) {
        if (program_ && program_sink_.lock() != client) drop_program();
        for (bool kept = program_ != nullptr;; kept = false) {
            if (!program_) {
                auto connected = co_await client->connect_program(destination_.port(), from_endpoint(remote_));
                if (!connected) co_return std::nullopt;
                program_ = std::make_shared<tcp::socket>(std::move(connected->socket));
                program_conn_ = connected->conn;
                program_sink_ = client;
                std::error_code ignored;
                program_->set_option(tcp::no_delay(true), ignored);
            }
            std::optional<bool> answered;
            auto w = co_await co::write_all(*program_, asio::buffer(message_));
            if (!w.error) answered = co_await answer(program_, head_request);
            if (!program_ || !answered) drop_program();
            // A kept connection the program closed meanwhile, before any of the answer: once more
            // on a new one.
            if (!answered && kept) continue;
            if (!answered) co_await write_peer(simple_http_response(502, "Bad Gateway", "mirrord: the local program did not answer\n"));
            co_return answered.value_or(false);
        }
    }

    void drop_program() {
        if (!program_ && !program_conn_) return;
        std::error_code ignored;
        if (program_) program_->close(ignored);
        program_.reset();
        if (auto sink = program_sink_.lock()) sink->release_program(program_conn_);
        program_conn_ = 0;
        program_sink_.reset();
    }

    // The response to the current request from `from`, relayed to the peer as it comes. Whether the
    // connection carries on; nullopt if `from` ended before any of it (then reset, as on any
    // error). A switch of protocols, or an answer that is not HTTP, relays both ways raw to the end.
    co::Task<std::optional<bool>> answer(std::shared_ptr<tcp::socket>& from, bool head_request) {
        Http1Parser response(Http1Parser::Kind::response);
        if (head_request) response.expect_no_body();
        for (bool got = false;; got = true) {
            auto r = co_await co::read_some(*from, asio::buffer(buffer_));
            if (r.error) {
                (void)response.finish();
                from.reset();
                if (!got) co_return std::nullopt;
                co_return false;
            }
            // Parsed through to the response's end, or the chunk's; then written at once.
            size_t used = 0;
            bool raw = false, done = false;
            while (used < r.bytes && !raw && !done) {
                auto step = response.feed(buffer_.data() + used, r.bytes - used);
                if (step.error) raw = true;  // not HTTP back: the rest as it is
                used += step.consumed;
                done = step.message_done;
            }
            // After a switch of protocols (or a non-HTTP answer), the rest of the chunk goes too.
            raw = raw || (done && response.head().status == 101);
            auto w = co_await co::write_all(*peer_, asio::buffer(buffer_.data(), raw ? r.bytes : used));
            if (w.error) co_return false;
            if (raw) co_return co_await upgrade(from);
            if (done) co_return response.keep_alive() && request_.keep_alive();
        }
    }

    co::Task<bool> upgrade(std::shared_ptr<tcp::socket> other) {
        co_await relay(peer_, std::move(other), std::move(pending_));
        upgraded_ = true;
        co_return false;
    }

    co::Task<bool> write_app(const std::vector<char>& bytes) {
        if (bytes.empty()) co_return true;
        auto w = co_await co::write_all(*app_, asio::buffer(bytes));
        co_return !w.error;
    }

    co::Task<void> pass_through(std::string why) {
        log::debug("incoming: ", why, "; passing the connection through");
        if (!co_await ensure_app()) co_return finish();
        std::vector<char> all = message_;
        all.insert(all.end(), pending_.begin(), pending_.end());
        co_await relay(peer_, app_, std::move(all));
        finish();
    }

    void finish() {
        std::error_code ignored;
        peer_->close(ignored);
        if (app_) app_->close(ignored);
        drop_program();
    }

    asio::io_context& io_;
    std::shared_ptr<tcp::socket> peer_, app_;
    std::shared_ptr<tcp::socket> program_;  // to the program of program_sink_, whose connection program_conn_ it is
    std::weak_ptr<IncomingSink> program_sink_;
    uint64_t program_conn_ = 0;
    tcp::endpoint destination_, remote_;
    FilterList filters_;
    Http1Parser request_{Http1Parser::Kind::request};
    std::vector<char> buffer_, pending_, message_;
    uint64_t conn_ = 0;
    bool request_done_ = false, upgraded_ = false;
};

// Listeners on one free port number: [::] dual-stack; or, ipv4_apart, 0.0.0.0 and [::] IPv6-only,
// so IPv4 peers come as IPv4 sockets; 0.0.0.0 alone when the target has no IPv6.
Result<std::vector<std::shared_ptr<tcp::acceptor>>> open_listeners(asio::io_context& io, bool ipv4_apart) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        std::vector<std::shared_ptr<tcp::acceptor>> listeners;
        std::error_code ec;
        auto v6 = std::make_shared<tcp::acceptor>(io);
        v6->open(tcp::v6(), ec);
        if (!ec) v6->set_option(asio::ip::v6_only(ipv4_apart), ec);
        if (!ec) v6->bind(tcp::endpoint(tcp::v6(), 0), ec);
        uint16_t number = 0;
        if (!ec) number = v6->local_endpoint(ec).port();
        if (!ec) listeners.push_back(v6);
        if (ec || ipv4_apart) {
            auto v4 = std::make_shared<tcp::acceptor>(io);
            ec.clear();
            v4->open(tcp::v4(), ec);
            if (!ec) v4->bind(tcp::endpoint(tcp::v4(), number), ec);
            if (ec == asio::error::address_in_use && number) continue;  // that number is taken for IPv4: another
            listeners.push_back(v4);
        }
        for (auto& listener : listeners)
            if (!ec) listener->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return Error{ec.value(), "incoming listener: " + ec.message()};
        return listeners;
    }
    return Error{EADDRINUSE, "incoming listener: no port number free for both IPv4 and IPv6"};
}

}  // namespace

Incoming::Incoming(asio::io_context& io, std::unique_ptr<RedirectRules> rules, std::unique_ptr<PacketCapture> capture,
                   bool flush_connections)
    : io_(io), rules_(std::move(rules)), capture_(std::move(capture)),
      flows_([this](const tcp::endpoint& peer, const tcp::endpoint& local) { return open_taps(peer, local); }), idle_flows_(io),
      flush_connections_(flush_connections) {}

Incoming::~Incoming() = default;

Status Incoming::subscribe(uint64_t client, std::weak_ptr<IncomingSink> sink, const PortSubscribe& request) {
    if (!rules_) return Error::msg("this agent has no target, so no incoming traffic", ENOTSUP);
    if (request.port == 0) return Error::msg("cannot subscribe to port 0", EINVAL);
    auto matcher = HttpMatcher::compile(request.filter);
    if (!matcher) return matcher.error();
    bool steal = request.mode == "steal";
    if (!steal && request.mode != "mirror") return Error::msg("unknown incoming mode '" + request.mode + "'", EINVAL);

    Port& port = ports_[request.port];
    for (auto& s : port.subscribers) {
        if (s.client == client || !steal || !s.steal) continue;
        if (matcher->empty() || s.matcher.empty()) {
            if (port.subscribers.empty()) ports_.erase(request.port);
            return Error::msg("port " + std::to_string(request.port) + " is already stolen by another mirrord session" +
                                  (matcher->empty() ? "" : " without a filter"), EADDRINUSE);
        }
    }
    if (!steal && !capture_) {
        if (port.subscribers.empty()) ports_.erase(request.port);
        return Error::msg("this agent cannot capture packets (CAP_NET_RAW), so it cannot mirror", EPERM);
    }
    auto before = port.subscribers;
    std::erase_if(port.subscribers, [&](const Subscriber& s) { return s.client == client; });
    port.subscribers.push_back(Subscriber{client, std::move(sink), steal, std::move(*matcher), request.pass_family});
    bool relisten = port.stolen() && (port.listeners.empty() || port.ipv4_apart != port.wants_ipv4_apart());
    Status st = relisten ? listen(port, request.port) : Status{};
    if (st) st = update_capture();
    if (!st) {
        port.subscribers = std::move(before);
        if (port.subscribers.empty()) ports_.erase(request.port);
        (void)update_capture();
        return st;
    }
    if (steal && flush_connections_) flush(request.port);
    log::info("port ", request.port, ": ", request.mode, request.filter.kind.empty() ? "" : " (filtered)", " for client ", client);
    return {};
}

Status Incoming::listen(Port& port, uint16_t number) {
    bool ipv4_apart = port.wants_ipv4_apart();
    auto listeners = open_listeners(io_, ipv4_apart);
    if (!listeners) return listeners.error();
    std::swap(port.listeners, *listeners);
    if (auto st = update_rules(); !st) {
        std::swap(port.listeners, *listeners);
        close(*listeners);
        (void)update_rules();
        return st;
    }
    close(*listeners);  // the ones before, if the layout changed: the redirect leads to the new ones now
    port.ipv4_apart = ipv4_apart;
    for (auto& listener : port.listeners) co::spawn(accept_loop(number, listener));
    return {};
}

void Incoming::close(std::vector<Listener>& listeners) {
    std::error_code ignored;
    for (auto& listener : listeners) listener->close(ignored);
    listeners.clear();
}

bool Incoming::Port::stolen() const {
    return std::any_of(subscribers.begin(), subscribers.end(), [](const Subscriber& s) { return s.steal; });
}

bool Incoming::Port::mirrored() const {
    return std::any_of(subscribers.begin(), subscribers.end(), [](const Subscriber& s) { return !s.steal; });
}

bool Incoming::Port::wants_ipv4_apart() const {
    return std::any_of(subscribers.begin(), subscribers.end(),
                       [](const Subscriber& s) { return s.steal && s.matcher.empty() && s.pass_family == AF_INET; });
}

void Incoming::unsubscribe(uint64_t client, uint16_t number) {
    auto it = ports_.find(number);
    if (it == ports_.end()) return;
    Port& port = it->second;
    std::erase_if(port.subscribers, [&](const Subscriber& s) { return s.client == client; });
    if (!port.listeners.empty() && !port.stolen()) {
        close(port.listeners);
        if (auto st = update_rules(); !st) log::error(st.error().message);
    }
    if (port.subscribers.empty()) ports_.erase(it);
    if (auto st = update_capture(); !st) log::error(st.error().message);
}

void Incoming::client_gone(uint64_t client) {
    std::vector<uint16_t> ports;
    for (auto& [port, p] : ports_) ports.push_back(port);
    for (uint16_t port : ports) unsubscribe(client, port);
}

void Incoming::shutdown() {
    for (auto& [port, p] : ports_) close(p.listeners);
    ports_.clear();
    (void)update_capture();  // which ends every copy, nothing being mirrored
    idle_flows_.cancel();
    rules_.reset();  // deletes the table
}

Status Incoming::update_rules() {
    std::map<uint16_t, uint16_t> redirects;
    for (auto& [port, p] : ports_) {
        if (p.listeners.empty()) continue;
        std::error_code ec;
        redirects[port] = p.listeners.front()->local_endpoint(ec).port();
    }
    return rules_->apply(redirects);
}

Status Incoming::update_capture() {
    if (!capture_) return {};
    std::set<uint16_t> mirrored;
    for (auto& [port, p] : ports_)
        if (p.mirrored()) mirrored.insert(port);
    if (mirrored.empty()) flows_.clear(0);  // nobody wants their copies any more
    else forget_idle_flows();
    return capture_->watch(mirrored, [this](const TcpSegment& segment) { flows_.on_segment(segment); });
}

Taps Incoming::open_taps(const tcp::endpoint& peer, const tcp::endpoint& local) {
    Taps taps;
    auto it = ports_.find(local.port());
    if (it == ports_.end()) return taps;
    for (auto& s : it->second.subscribers) {
        auto sink = s.sink.lock();
        if (sink && !s.steal) taps.push_back(std::make_shared<HttpMirrorTap>(io_, sink, local.port(), peer, local, s.matcher));
    }
    return taps;
}

void Incoming::forget_idle_flows() {
    // A connection whose end was never seen (its peer vanished; a packet lost to the capture) is
    // forgotten after a while of silence.
    constexpr auto kIdle = std::chrono::minutes(10);
    if (idle_flows_.expiry() > std::chrono::steady_clock::now()) return;  // already due
    idle_flows_.expires_after(std::chrono::minutes(1));
    idle_flows_.async_wait([this, kIdle](std::error_code ec) {
        if (ec) return;
        flows_.forget_idle(SniffedFlows::Clock::now() - kIdle);
        if (unsigned dropped = capture_ ? capture_->dropped() : 0)
            log::warn("mirror: the packet capture lost ", dropped, " packets in the last minute (the agent was busy); copies of their connections ended");
        if (std::any_of(ports_.begin(), ports_.end(), [](auto& p) { return p.second.mirrored(); })) forget_idle_flows();
    });
}

void Incoming::flush(uint16_t port) {
    // Connections established before the steal bypass the new redirect; dropping their conntrack
    // entries makes their next packet go through it (mirrord's flush_connections). Only those whose
    // replies come from the port itself: a redirected one (already the agent's, perhaps accepted
    // before this runs) would lose its address translation and be reset.
    // Not waited for on the event loop: grandchildren run it (an argv, no shell; IPv4, then IPv6,
    // conntrack's default being IPv4 only), the child exits at once.
    std::string port_text = std::to_string(port);
    pid_t child = ::fork();
    if (child == 0) {
        if (::fork() == 0) {
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            for (const char* family : {"ipv4", "ipv6"}) {
                pid_t one = ::fork();
                if (one == 0) {
                    ::execlp("conntrack", "conntrack", "-D", "-f", family, "-p", "tcp", "--orig-port-dst", port_text.c_str(),
                             "--reply-port-src", port_text.c_str(), static_cast<char*>(nullptr));
                    ::_exit(127);
                }
                if (one > 0) ::waitpid(one, nullptr, 0);
            }
            ::_exit(0);
        }
        ::_exit(0);
    }
    if (child > 0) ::waitpid(child, nullptr, 0);
    else log::debug("conntrack: fork: ", std::strerror(errno), "; existing connections are not flushed");
}

co::Task<void> Incoming::accept_loop(uint16_t port, Listener listener) {
    for (;;) {
        auto [ec, socket] = co_await co::accept(*listener);
        // Unsubscribed: closed (a connection accepted just before still goes where its port's
        // subscribers say, or is closed by serve() if there are none left).
        if (ec == asio::error::operation_aborted || !listener->is_open()) {
            if (!ec) co::spawn(serve(std::move(socket)));
            co_return;
        }
        if (ec) {
            log::warn("incoming accept on port ", port, ": ", ec.message());
            continue;
        }
        co::spawn(serve(std::move(socket)));
    }
}

co::Task<void> Incoming::serve(tcp::socket socket) {
    auto destination = original_destination(socket);
    std::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    if (!destination || ec) co_return;
    auto it = ports_.find(destination->port());
    if (it == ports_.end()) co_return;  // unsubscribed meanwhile
    socket.set_option(tcp::no_delay(true), ec);
    uint16_t port = destination->port();

    std::shared_ptr<IncomingSink> thief;
    int pass_family = 0;
    std::vector<std::pair<std::weak_ptr<IncomingSink>, HttpMatcher>> filters;
    for (auto& s : it->second.subscribers) {
        auto sink = s.sink.lock();
        if (!sink || !s.steal) continue;
        if (s.matcher.empty()) {
            thief = sink;
            pass_family = s.pass_family;
        }
        else filters.emplace_back(s.sink, s.matcher);
    }

    if (thief && !co_await thief->attached()) {
        thief.reset();  // its session ended while this connection waited for its link: the app's now
    }
    if (thief && pass_family == socket.local_endpoint(ec).protocol().family() && !ec) {  // the whole connection, its socket itself
        IncomingConnection handed{thief->new_incoming_id(), port, from_endpoint(peer), from_endpoint(*destination), false, true};
        handed.fd = std::make_shared<UniqueFd>(co::release_socket(socket));
        if (auto out = thief->outbox().lock(); out && handed.fd->ok()) out->send(0, std::move(handed));
        co_return;  // the client's now
    }
    if (thief) {  // the whole connection, relayed
        uint64_t conn = thief->new_incoming_id();
        auto bridge = std::make_shared<StreamBridge>(conn, thief->outbox(), thief->connections());
        thief->connections().add(conn, bridge);
        if (auto out = thief->outbox().lock())
            out->send(0, IncomingConnection{conn, port, from_endpoint(peer), from_endpoint(*destination), false});
        bridge->attach(std::move(socket));
        co_return;
    }
    if (!filters.empty()) {
        auto connection = std::make_shared<FilteredConnection>(io_, std::move(socket), *destination, std::move(filters));
        co_await connection->run();
        co_return;
    }
    auto app = co_await connect_upstream(io_, *destination);
    if (!app) co_return;  // the peer sees its connection closed, as with no application listening
    co_await relay(std::make_shared<tcp::socket>(std::move(socket)), std::make_shared<tcp::socket>(std::move(*app)), {});
}

}  // namespace mrd::agent
