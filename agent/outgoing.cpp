#include "agent/outgoing.hpp"

#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <fcntl.h>
#include <sys/un.h>

#include <deque>

namespace mrd::agent {
namespace {

using namespace mrd::wire;
using asio::ip::tcp;
using asio::ip::udp;

ErrorReply error_reply(const std::error_code& ec, const std::string& what) {
    return ErrorReply{ec.value(), what + ": " + ec.message()};
}

// Resolves remote.ip in the target when it is a name, then calls next with literal addresses.
void resolve(Context& ctx, const SocketAddress& remote, Reply reply,
             std::function<void(std::vector<std::string>)> next) {
    if (is_ip_literal(remote.ip)) return next({remote.ip});
    asio::post(ctx.pool, [&ctx, remote, reply = std::move(reply), next = std::move(next)]() mutable {
        auto found = ctx.resolver.lookup(remote.ip, 0);
        asio::post(ctx.io, [found = std::move(found), reply = std::move(reply), next = std::move(next)]() mutable {
            if (!found) return reply(ErrorReply{found.error().code, found.error().message});
            next(std::move(found.value()));
        });
    });
}

template <class Endpoint>
std::optional<Endpoint> endpoint_of(const std::string& ip, uint16_t port) {
    std::error_code ec;
    auto address = asio::ip::make_address(ip, ec);
    if (ec) return std::nullopt;
    return Endpoint(address, port);
}

// One attempt per resolved address, in order, like a resolver-driven connect. Until it connects, a
// Close for its connection id (the program closed its socket or gave up) cancels it.
struct TcpAttempt : std::enable_shared_from_this<TcpAttempt> {
    struct Canceller : Endpoint {
        std::weak_ptr<TcpAttempt> attempt;
        void on_data(Bytes) override {}
        void on_window(uint32_t) override {}
        void on_eof() override {}
        void on_close(int) override {
            if (auto a = attempt.lock()) a->cancel();
        }
    };

    TcpAttempt(Context& ctx, TcpConnect request, std::weak_ptr<Outbox> outbox, ConnectionTable& table, Reply reply)
        : ctx(ctx), request(std::move(request)), outbox(std::move(outbox)), table(table), reply(std::move(reply)),
          socket(ctx.io), timer(ctx.io), asked(std::chrono::steady_clock::now()) {}

    void start(std::vector<std::string> candidates) {
        addresses = std::move(candidates);
        auto canceller = std::make_shared<Canceller>();
        canceller->attempt = weak_from_this();
        table.add(request.conn, canceller);
        if (request.timeout_ms) {
            timer.expires_after(std::chrono::milliseconds(request.timeout_ms));
            timer.async_wait([self = shared_from_this()](std::error_code ec) {
                if (ec) return;
                self->timed_out = true;
                std::error_code ignored;
                self->socket.close(ignored);
            });
        }
        next();
    }

    void cancel() {
        cancelled = true;
        timer.cancel();
        std::error_code ignored;
        socket.close(ignored);
    }

    void next() {
        if (index >= addresses.size() || timed_out || cancelled) {
            timer.cancel();
            table.remove(request.conn);
            if (timed_out) last_error = asio::error::timed_out;
            if (cancelled) last_error = asio::error::operation_aborted;
            return reply(error_reply(last_error, "connect " + to_string(request.remote)));
        }
        auto endpoint = endpoint_of<tcp::endpoint>(addresses[index++], request.remote.port);
        if (!endpoint) return next();
        // Made in the family of the socket it is to replace: an IPv6 one reaches IPv4 v4-mapped.
        bool mapped = map_v4 && endpoint->address().is_v4();
        if (mapped) *endpoint = tcp::endpoint(asio::ip::make_address_v6(asio::ip::v4_mapped, endpoint->address().to_v4()), endpoint->port());
        std::error_code ignored;
        socket.close(ignored);
        socket.async_connect(*endpoint, [self = shared_from_this(), mapped](std::error_code ec) {
            if (ec == asio::error::address_family_not_supported && mapped) {  // no IPv6 in the target
                self->map_v4 = false;
                --self->index;
                return self->next();
            }
            if (ec) {
                self->last_error = ec;
                return self->next();
            }
            self->timer.cancel();
            self->connected();
        });
    }

    void connected() {
        std::error_code e1, e2;
        Connected done{request.conn, from_endpoint(socket.local_endpoint(e1)), from_endpoint(socket.remote_endpoint(e2))};
        if (e1 || e2) return reply(error_reply(e1 ? e1 : e2, "connect " + to_string(request.remote)));
        auto took = std::chrono::steady_clock::now() - asked;
        if (request.pass_family == socket.local_endpoint(e1).protocol().family() && !e1 &&
            took <= std::chrono::milliseconds(request.pass_within_ms)) {
            // The socket itself: the client's program is its end, nothing is relayed.
            table.remove(request.conn);
            done.passed = true;
            done.fd = std::make_shared<UniqueFd>(co::release_socket(socket));
            if (done.fd->ok()) return reply(std::move(done));
            done.passed = false;
            done.fd.reset();
        }
        auto bridge = std::make_shared<StreamBridge>(request.conn, outbox, table);
        table.add(request.conn, bridge);
        reply(done);  // Connected goes out before the first Data the bridge may send
        bridge->attach(std::move(socket));
    }

    Context& ctx;
    TcpConnect request;
    std::weak_ptr<Outbox> outbox;
    ConnectionTable& table;
    Reply reply;
    tcp::socket socket;
    asio::steady_timer timer;
    std::vector<std::string> addresses;
    size_t index = 0;
    std::chrono::steady_clock::time_point asked;
    bool map_v4 = request.pass_family == AF_INET6;
    bool timed_out = false;
    bool cancelled = false;
    std::error_code last_error = asio::error::host_not_found;
};

class UdpFlow : public Endpoint, public std::enable_shared_from_this<UdpFlow> {
public:
    UdpFlow(uint64_t conn, udp::socket socket, std::weak_ptr<Outbox> outbox, ConnectionTable& table)
        : conn_(conn), socket_(std::move(socket)), outbox_(std::move(outbox)), table_(table), buffer_(65536) {}

    void start() { receive(); }
    void on_data(Bytes bytes) override {
        if (queue_.size() >= kMaxQueued) return;  // UDP may drop; memory must not grow
        queue_.push_back(std::move(bytes));
        if (queue_.size() == 1) send_front();
    }
    void on_window(uint32_t) override {}
    void on_eof() override {}
    void on_close(int) override { release(); }

private:
    static constexpr size_t kMaxQueued = 256;

    void receive() {
        socket_.async_receive(asio::buffer(buffer_), [self = shared_from_this()](std::error_code ec, size_t n) {
            if (self->released_) return;
            if (ec == asio::error::connection_refused) return self->receive();  // ICMP from an earlier send
            if (ec) return self->fail(ec.value());
            if (auto outbox = self->outbox_.lock())
                outbox->send(0, Data{self->conn_, bytes_of(self->buffer_.data(), n)});
            self->receive();
        });
    }
    void send_front() {
        socket_.async_send(asio::buffer(queue_.front()), [self = shared_from_this()](std::error_code ec, size_t) {
            if (self->released_) return;
            if (ec && ec != asio::error::connection_refused) return self->fail(ec.value());
            self->queue_.pop_front();
            if (!self->queue_.empty()) self->send_front();
        });
    }
    void fail(int code) {
        if (auto outbox = outbox_.lock()) outbox->send(0, Close{conn_, code});
        release();
    }
    void release() {
        if (released_) return;
        released_ = true;
        std::error_code ignored;
        socket_.close(ignored);
        table_.remove(conn_);
    }

    uint64_t conn_;
    udp::socket socket_;
    std::weak_ptr<Outbox> outbox_;
    ConnectionTable& table_;
    std::vector<char> buffer_;
    std::deque<Bytes> queue_;
    bool released_ = false;
};

}  // namespace

void connect_tcp(Context& ctx, const TcpConnect& request, std::weak_ptr<Outbox> outbox, ConnectionTable& table,
                 Reply reply) {
    if (table.find(request.conn)) return reply(ErrorReply{EEXIST, "connection id already in use"});
    auto attempt = std::make_shared<TcpAttempt>(ctx, request, std::move(outbox), table, reply);
    resolve(ctx, request.remote, reply, [attempt](std::vector<std::string> addresses) { attempt->start(std::move(addresses)); });
}

void connect_unix(Context& ctx, const UnixConnect& request, std::weak_ptr<Outbox> outbox, ConnectionTable& table,
                  Reply reply) {
    if (table.find(request.conn)) return reply(ErrorReply{EEXIST, "connection id already in use"});
    if (request.path.empty() || request.path[0] != '/') return reply(ErrorReply{EINVAL, "not an absolute path: " + request.path});
    // The target's "/" is our descriptor of it: the path resolves in its mount namespace.
    std::string path = "/proc/self/fd/" + std::to_string(ctx.target.root_fd()) + request.path;
    if (path.size() >= sizeof(sockaddr_un::sun_path)) return reply(ErrorReply{ENAMETOOLONG, "unix socket path too long: " + request.path});
    auto socket = std::make_shared<asio::local::stream_protocol::socket>(ctx.io);
    socket->async_connect(asio::local::stream_protocol::endpoint(path), [socket, request, outbox, &table, reply](std::error_code ec) {
        if (ec) return reply(error_reply(ec, "connect " + request.path));
        auto bridge = std::make_shared<StreamBridge>(request.conn, outbox, table);
        table.add(request.conn, bridge);
        reply(Connected{request.conn, {}, {}});  // before the first Data the bridge may send
        bridge->attach(std::move(*socket));
    });
}

void connect_udp(Context& ctx, const UdpConnect& request, std::weak_ptr<Outbox> outbox, ConnectionTable& table,
                 Reply reply) {
    if (table.find(request.conn)) return reply(ErrorReply{EEXIST, "connection id already in use"});
    resolve(ctx, request.remote, reply,
            [&ctx, request, outbox = std::move(outbox), &table, reply](std::vector<std::string> addresses) {
                auto endpoint = endpoint_of<udp::endpoint>(addresses.front(), request.remote.port);
                if (!endpoint) return reply(ErrorReply{EINVAL, "bad address " + addresses.front()});
                udp::socket socket(ctx.io);
                std::error_code ec;
                socket.open(endpoint->protocol(), ec);
                if (!ec) socket.connect(*endpoint, ec);
                if (ec) return reply(error_reply(ec, "udp connect " + to_string(request.remote)));
                Connected done{request.conn, from_endpoint(socket.local_endpoint(ec)), from_endpoint(*endpoint)};
                auto flow = std::make_shared<UdpFlow>(request.conn, std::move(socket), outbox, table);
                table.add(request.conn, flow);
                reply(done);
                flow->start();
            });
}

}  // namespace mrd::agent
