#include "tracer/remote/interceptors.hpp"

#include "tracer/policy/dns_selector.hpp"
#include "tracer/remote/session_report.hpp"

#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"
#include "base/temp_dir.hpp"
#include "base/text_file.hpp"

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

namespace mrd::tracer {

using namespace mrd::wire;
using asio::ip::tcp;
using asio::ip::udp;

std::pair<std::string, uint16_t> address_key(const SocketAddress& a) { return {unmapped(a.ip), a.port}; }

void AddressMap::add_peer(const SocketAddress& interceptor, const SocketAddress& remote) {
    peers_[address_key(interceptor)] = remote;
}
void AddressMap::remove_peer(const SocketAddress& interceptor) { peers_.erase(address_key(interceptor)); }
std::optional<SocketAddress> AddressMap::remote_of(const SocketAddress& interceptor) const {
    auto it = peers_.find(address_key(interceptor));
    if (it == peers_.end()) return std::nullopt;
    return it->second;
}
void AddressMap::add_local(const SocketAddress& local, const SocketAddress& remote_local) {
    locals_[address_key(local)] = remote_local;
}
void AddressMap::remove_local(const SocketAddress& local) { locals_.erase(address_key(local)); }
std::optional<SocketAddress> AddressMap::local_of(const SocketAddress& local) const {
    auto it = locals_.find(address_key(local));
    if (it == locals_.end()) return std::nullopt;
    return it->second;
}

namespace {

asio::ip::address loopback(bool ipv6) {
    return ipv6 ? asio::ip::address(asio::ip::address_v6::loopback()) : asio::ip::address(asio::ip::address_v4::loopback());
}

}  // namespace

// The interceptor listener for one tracee connection: accepts it once and hands it to the bridge.
template <class Protocol>
class Interceptors::PendingStream : public std::enable_shared_from_this<PendingStream<Protocol>> {
public:
    PendingStream(asio::io_context& io, std::shared_ptr<StreamBridge> bridge) : acceptor(io), timer(io), bridge(std::move(bridge)) {}

    void start() {
        acceptor.async_accept([self = this->shared_from_this()](std::error_code ec, typename Protocol::socket socket) {
            self->timer.cancel();
            std::error_code ignored;
            self->acceptor.close(ignored);
            if (ec) return;
            self->bridge->attach(std::move(socket));
            self->done();
        });
        // A tracee killed between our rewrite and its connect must not leak the agent connection.
        timer.expires_after(std::chrono::seconds(60));
        timer.async_wait([self = this->shared_from_this()](std::error_code ec) {
            if (!ec) self->abort();
        });
    }
    void abort() {
        std::error_code ignored;
        acceptor.close(ignored);
        timer.cancel();
        bridge->abort(ECONNABORTED);
        done();
    }

    typename Protocol::acceptor acceptor;
    asio::steady_timer timer;
    std::shared_ptr<StreamBridge> bridge;
    std::function<void()> done;
};

std::shared_ptr<StreamBridge> Interceptors::bridge_for(const Connected& connected) {
    auto bridge = std::make_shared<StreamBridge>(connected.conn, agent_.outbox(), agent_.connections());
    agent_.connections().add(connected.conn, bridge);
    return bridge;
}

void Interceptors::attach_tcp(std::shared_ptr<StreamBridge> bridge, tcp::socket socket, const SocketAddress& peer_seen,
                              const SocketAddress& program_local, const Connected& connected) {
    map_.add_peer(peer_seen, connected.remote);
    map_.add_local(program_local, connected.local);
    bridge->on_release([this, peer_seen, program_local] {
        map_.remove_peer(peer_seen);
        map_.remove_local(program_local);
    });
    bridge->attach(std::move(socket));
}

namespace {

// Copies from -> to until EOF (then half-closes to) or an error (then closes both); `keep` is
// released at the end.
co::Task<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to, [[maybe_unused]] std::shared_ptr<void> keep) {
    std::vector<char> buffer(64 * 1024);
    for (;;) {
        auto r = co_await co::read_some(*from, asio::buffer(buffer));
        std::error_code ignored;
        if (r.error == asio::error::eof) co_return (void)to->shutdown(tcp::socket::shutdown_send, ignored);
        if (!r.error) r.error = (co_await co::write_all(*to, asio::buffer(buffer.data(), r.bytes))).error;
        if (r.error) {
            from->close(ignored);
            to->close(ignored);
            co_return;
        }
    }
}

}  // namespace

void Interceptors::relay_here(tcp::socket socket, const SocketAddress& peer_seen, const SocketAddress& program_local,
                              const Connected& connected) {
    std::error_code ec;
    auto target = std::make_shared<tcp::socket>(io_);
    if (connected.fd && connected.fd->ok()) {
        int fd = ::fcntl(connected.fd->get(), F_DUPFD_CLOEXEC, 0);
        target->assign(socket.local_endpoint(ec).protocol(), fd, ec);
        if (ec) ::close(fd);
    }
    auto ours = std::make_shared<tcp::socket>(std::move(socket));
    if (!target->is_open()) return (void)ours->close(ec);  // the program sees its connection reset
    map_.add_peer(peer_seen, connected.remote);
    map_.add_local(program_local, connected.local);
    std::shared_ptr<void> mapped(nullptr, [this, peer_seen, program_local](void*) {  // until both ways are done
        map_.remove_peer(peer_seen);
        map_.remove_local(program_local);
    });
    co::spawn(pump(ours, target, mapped));
    co::spawn(pump(target, ours, mapped));
}

Interceptors::~Interceptors() {
    for (auto& [path, pending] : pending_unix_) ::unlink(path.c_str());
    if (!unix_dir_.empty()) ::rmdir(unix_dir_.c_str());
}

bool Interceptors::is_unix_interceptor(const std::string& path) const {
    return !unix_dir_.empty() && path.rfind(unix_dir_ + "/", 0) == 0;
}

Result<std::string> Interceptors::expect_unix(uint64_t conn) {
    if (unix_dir_.empty()) {
        auto dir = make_temp_dir(scratch::kUnixInterceptors);
        if (!dir) {
            agent_.send(Close{conn, ECONNABORTED});
            return dir.error().context("unix interceptor directory");
        }
        unix_dir_ = *dir;
    }
    std::string path = unix_dir_ + "/" + std::to_string(conn);
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        agent_.send(Close{conn, ECONNABORTED});
        return Error::msg("unix interceptor path too long (TMPDIR " + unix_dir_ + ")", ENAMETOOLONG);
    }
    auto bridge = std::make_shared<StreamBridge>(conn, agent_.outbox(), agent_.connections());
    auto pending = std::make_shared<PendingStream<asio::local::stream_protocol>>(io_, bridge);
    std::error_code ec;
    asio::local::stream_protocol::endpoint endpoint(path);
    pending->acceptor.open(endpoint.protocol(), ec);
    if (!ec) pending->acceptor.bind(endpoint, ec);
    if (!ec) pending->acceptor.listen(1, ec);
    if (ec) {
        agent_.send(Close{conn, ECONNABORTED});
        return Error{ec.value(), "unix interceptor socket: " + ec.message()};
    }
    agent_.connections().add(conn, bridge);
    pending_unix_[path] = pending;
    pending->done = [this, path] {
        ::unlink(path.c_str());  // connected or given up: the name is no longer needed
        pending_unix_.erase(path);
    };
    pending->start();
    return path;
}

void Interceptors::cancel_unix(const std::string& path) {
    if (auto it = pending_unix_.find(path); it != pending_unix_.end()) it->second->abort();
}

// One loopback UDP socket per remote destination. Each tracee socket sending to it gets a flow of
// its own through the agent, so replies find their way back to the right socket.
class Interceptors::UdpRelay : public std::enable_shared_from_this<UdpRelay> {
public:
    // split_dns: remote is one of the target's nameservers and some questions are answered here.
    UdpRelay(asio::io_context& io, AgentClient& agent, AddressMap& map, const OutgoingPolicy& policy, SocketAddress remote)
        : socket(io), io_(io), agent_(agent), map_(map), policy_(policy), remote_(std::move(remote)), buffer_(65536),
          split_dns_(policy.is_dns(remote_) && policy.splits_dns()) {}

    void start() { receive(); }
    udp::socket socket;

private:
    class Flow : public Endpoint, public std::enable_shared_from_this<Flow> {
    public:
        Flow(std::shared_ptr<UdpRelay> relay, udp::endpoint tracee, uint64_t conn)
            : relay_(std::move(relay)), tracee_(tracee), conn_(conn), idle_(relay_->io_) {}

        void send(Bytes datagram) {
            touch();
            if (connected_) relay_->agent_.send(Data{conn_, std::move(datagram)});
            else if (queue_.size() < 64) queue_.push_back(std::move(datagram));
        }
        void connected(const SocketAddress& remote_local) {
            connected_ = true;
            relay_->map_.add_local(from_endpoint(tracee_), remote_local);
            for (auto& d : queue_) relay_->agent_.send(Data{conn_, std::move(d)});
            queue_.clear();
        }
        void on_data(Bytes bytes) override {
            touch();
            std::error_code ignored;
            relay_->socket.send_to(asio::buffer(bytes), tracee_, 0, ignored);  // loopback: does not block
        }
        void on_window(uint32_t) override {}
        void on_eof() override {}
        void on_close(int) override { fail(); }
        // The agent cannot carry the flow. DNS questions waiting in it are answered SERVFAIL, as a
        // stub resolver does when its upstream is unreachable, so the program's resolver moves on
        // at once instead of waiting out its timeouts; other datagrams are lost, as on a network.
        void fail() {
            if (relay_->policy_.is_dns(relay_->remote_))
                for (auto& d : queue_)
                    if (auto answer = dns_servfail_answer(reinterpret_cast<const uint8_t*>(d.data()), d.size())) {
                        std::error_code ignored;
                        relay_->socket.send_to(asio::buffer(*answer), tracee_, 0, ignored);
                    }
            queue_.clear();
            release(false);
        }
        void release(bool tell_agent) {
            if (released_) return;
            released_ = true;
            idle_.cancel();
            if (tell_agent) relay_->agent_.send(Close{conn_, 0});
            relay_->agent_.connections().remove(conn_);
            relay_->map_.remove_local(from_endpoint(tracee_));
            relay_->flows_.erase(tracee_);
        }

    private:
        void touch() {
            idle_.expires_after(std::chrono::seconds(120));
            idle_.async_wait([weak = weak_from_this()](std::error_code ec) {
                if (auto self = weak.lock(); self && !ec) self->release(true);
            });
        }
        std::shared_ptr<UdpRelay> relay_;
        udp::endpoint tracee_;
        uint64_t conn_;
        asio::steady_timer idle_;
        std::vector<Bytes> queue_;
        bool connected_ = false, released_ = false;
    };

    // A tracee endpoint's DNS questions that feature.network.dns.filter keeps local: relayed to our
    // nameserver, the answers sent back as if from the target's (the resolver checks the source).
    class LocalDnsFlow : public std::enable_shared_from_this<LocalDnsFlow> {
    public:
        // The relay owns its flows (a flow only points back at it).
        LocalDnsFlow(const std::shared_ptr<UdpRelay>& relay, udp::endpoint tracee)
            : relay_(relay), tracee_(tracee), socket_(relay->io_), idle_(relay->io_), buffer_(65536) {}

        Result<void> open(const SocketAddress& nameserver) {
            std::error_code ec;
            udp::endpoint server(asio::ip::make_address(nameserver.ip, ec), nameserver.port);
            if (!ec) socket_.open(server.protocol(), ec);
            if (!ec) socket_.connect(server, ec);
            if (ec) return Error{ec.value(), "local nameserver " + to_string(nameserver) + ": " + ec.message()};
            receive();
            return {};
        }
        void send(const Bytes& question) {
            touch();
            std::error_code ignored;
            socket_.send(asio::buffer(question), 0, ignored);  // lost like any datagram: the resolver retries
        }

    private:
        void receive() {
            socket_.async_receive(asio::buffer(buffer_), [self = shared_from_this()](std::error_code ec, size_t n) {
                if (ec == asio::error::operation_aborted || !self->socket_.is_open()) return;
                auto relay = self->relay_.lock();
                if (!relay) return;
                if (!ec) {
                    std::error_code ignored;
                    relay->socket.send_to(asio::buffer(self->buffer_.data(), n), self->tracee_, 0, ignored);
                }
                self->receive();  // ICMP errors (nothing listening) end no flow: the resolver times out as usual
            });
        }
        void touch() {
            idle_.expires_after(std::chrono::seconds(120));
            idle_.async_wait([weak = weak_from_this()](std::error_code ec) {
                auto self = weak.lock();
                if (!self || ec) return;
                std::error_code ignored;
                self->socket_.close(ignored);
                if (auto relay = self->relay_.lock()) relay->local_dns_.erase(self->tracee_);
            });
        }
        std::weak_ptr<UdpRelay> relay_;
        udp::endpoint tracee_;
        udp::socket socket_;
        asio::steady_timer idle_;
        std::vector<char> buffer_;
    };

    void receive() {
        socket.async_receive_from(asio::buffer(buffer_), sender_, [self = shared_from_this()](std::error_code ec, size_t n) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) self->forward(bytes_of(self->buffer_.data(), n));
            self->receive();
        });
    }

    void forward(Bytes datagram) {
        bool local = split_dns_ && policy_.dns_route(reinterpret_cast<const uint8_t*>(datagram.data()), datagram.size()) == Route::local;
        if (policy_.is_dns(remote_))
            if (auto name = dns_question_name(reinterpret_cast<const uint8_t*>(datagram.data()), datagram.size()))
                session_report().record(SessionReport::Kind::dns, local ? "local" : "remote", *name, 0,
                                        policy_.dns_selector().why(local ? Route::local : Route::remote));
        if (local) {
            if (auto local = local_dns_for(sender_)) local->send(datagram);
            return;
        }
        flow_for(sender_)->send(std::move(datagram));
    }

    std::shared_ptr<LocalDnsFlow> local_dns_for(const udp::endpoint& tracee) {
        if (auto it = local_dns_.find(tracee); it != local_dns_.end()) return it->second;
        auto flow = std::make_shared<LocalDnsFlow>(shared_from_this(), tracee);
        if (auto opened = flow->open(policy_.local_nameserver()); !opened) {
            log::warn("dns filter: ", opened.error().message);
            return nullptr;
        }
        local_dns_[tracee] = flow;
        return flow;
    }

    std::shared_ptr<Flow> flow_for(const udp::endpoint& tracee) {
        if (auto it = flows_.find(tracee); it != flows_.end()) return it->second;
        uint64_t conn = agent_.new_connection_id();
        auto flow = std::make_shared<Flow>(shared_from_this(), tracee, conn);
        flows_[tracee] = flow;
        agent_.connections().add(conn, flow);
        co::spawn(open_flow(flow, conn));
        return flow;
    }

    co::Task<void> open_flow(std::shared_ptr<Flow> flow, uint64_t conn) {
        auto reply = reply_as<Connected>(co_await agent_.call<UdpConnect>(conn, remote_));
        if (!reply) {
            log::debug("udp to ", to_string(remote_), ": ", reply.error().message);
            flow->fail();
            co_return;
        }
        flow->connected(reply->local);
    }

    asio::io_context& io_;
    AgentClient& agent_;
    AddressMap& map_;
    const OutgoingPolicy& policy_;
    SocketAddress remote_;
    std::vector<char> buffer_;
    bool split_dns_;
    udp::endpoint sender_;
    std::map<udp::endpoint, std::shared_ptr<Flow>> flows_;
    std::map<udp::endpoint, std::shared_ptr<LocalDnsFlow>> local_dns_;
};

Result<SocketAddress> Interceptors::udp_for(const SocketAddress& remote, bool ipv6) {
    if (agent_.lost()) return Error{ENETUNREACH, "udp to " + to_string(remote) + ": the agent cannot be reached"};
    auto key = std::make_pair(address_key(remote), ipv6);
    if (auto it = udp_.find(key); it != udp_.end()) return from_endpoint(it->second->socket.local_endpoint());
    auto relay = std::make_shared<UdpRelay>(io_, agent_, map_, policy_, remote);
    std::error_code ec;
    udp::endpoint endpoint(loopback(ipv6), 0);
    relay->socket.open(endpoint.protocol(), ec);
    if (!ec) relay->socket.bind(endpoint, ec);
    if (ec) return Error{ec.value(), "udp interceptor: " + ec.message()};
    SocketAddress address = from_endpoint(relay->socket.local_endpoint(ec));
    map_.add_peer(address, remote);
    map_.count_datagram_peer();
    udp_[key] = relay;
    relay->start();
    return address;
}

}  // namespace mrd::tracer
