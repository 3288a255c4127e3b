#include "agent/incoming_relay.hpp"

#include "agent/redirect_rules.hpp"
#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>

namespace mrd::agent {

using namespace mrd::wire;
using asio::ip::tcp;

std::optional<tcp::endpoint> original_destination(tcp::socket& socket) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = socket.native_handle();
    if (::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len) != 0) {
        len = sizeof(sockaddr_in);
        if (::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len) != 0) return std::nullopt;
    }
    auto a = from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    if (!a) return std::nullopt;
    std::error_code ec;
    auto ip = asio::ip::make_address(a->ip, ec);
    if (ec) return std::nullopt;
    if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    return tcp::endpoint(ip, a->port);
}

co::Task<std::optional<tcp::socket>> connect_upstream(asio::io_context& io, tcp::endpoint destination) {
    tcp::socket socket(io);
    std::error_code ec;
    socket.open(destination.protocol(), ec);
    uint32_t mark = RedirectRules::kBypassMark;
    if (!ec && ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0)
        ec = std::error_code(errno, std::system_category());
    if (!ec) ec = co_await co::connect(socket, destination);
    if (ec) {
        log::warn("incoming: cannot reach the application at ", to_string(from_endpoint(destination)), ": ", ec.message());
        co_return std::nullopt;
    }
    socket.set_option(tcp::no_delay(true), ec);
    co_return std::move(socket);
}

MirrorTap::MirrorTap(asio::io_context& io, std::shared_ptr<IncomingSink> sink, uint64_t conn)
    : sink_(sink), outbox_(sink->outbox()), conn_(conn), linger_(io) {}

std::shared_ptr<MirrorTap> MirrorTap::open(asio::io_context& io, const std::shared_ptr<IncomingSink>& sink, uint16_t port,
                                           const tcp::endpoint& peer, const tcp::endpoint& local) {
    auto tap = std::make_shared<MirrorTap>(io, sink, sink->new_incoming_id());
    sink->connections().add(tap->conn_, tap);
    if (auto out = tap->outbox_.lock()) out->send(0, IncomingConnection{tap->conn_, port, from_endpoint(peer), from_endpoint(local), true});
    return tap;
}

void MirrorTap::copy(const char* data, size_t n) {
    if (closed_ || n == 0) return;
    if (n > credit_) return close(ENOBUFS);
    credit_ -= n;
    if (auto out = outbox_.lock()) out->send(0, Data{conn_, Bytes(data, data + n)});
}

void MirrorTap::eof() {
    if (closed_ || eof_sent_) return;
    eof_sent_ = true;
    if (auto out = outbox_.lock()) out->send(0, Eof{conn_});
}

void MirrorTap::finish() {
    eof();
    if (closed_) return;
    linger_.expires_after(std::chrono::seconds(10));
    linger_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->close(0);
    });
}

void MirrorTap::close(int code) {
    if (closed_) return;
    if (auto out = outbox_.lock()) out->send(0, Close{conn_, code});
    release();
}

void MirrorTap::on_eof() {
    if (eof_sent_) release();  // both sides done
}

void MirrorTap::release() {
    if (closed_) return;
    closed_ = true;
    linger_.cancel();
    if (auto sink = sink_.lock()) sink->connections().remove(conn_);
}

co::Task<void> pump(tcp::socket& from, tcp::socket& to, Taps* taps) {
    std::vector<char> buffer(64 * 1024);
    for (;;) {
        auto r = co_await co::read_some(from, asio::buffer(buffer));
        if (r.error) {
            std::error_code ignored;
            if (r.error == asio::error::eof) {
                to.shutdown(tcp::socket::shutdown_send, ignored);
                if (taps) for (auto& t : *taps) t->eof();
            } else {
                from.close(ignored);
                to.close(ignored);
                if (taps) for (auto& t : *taps) t->close(r.error.value());
            }
            co_return;
        }
        if (taps) for (auto& t : *taps) t->copy(buffer.data(), r.bytes);
        auto w = co_await co::write_all(to, asio::buffer(buffer.data(), r.bytes));
        if (w.error) {
            std::error_code ignored;
            from.close(ignored);
            to.close(ignored);
            if (taps) for (auto& t : *taps) t->close(w.error.value());
            co_return;
        }
    }
}

co::Task<void> relay(std::shared_ptr<tcp::socket> peer, std::shared_ptr<tcp::socket> app, Taps taps, std::vector<char> pending,
                     bool tapped) {
    if (!pending.empty()) {
        if (!tapped) for (auto& t : taps) t->copy(pending.data(), pending.size());
        auto w = co_await co::write_all(*app, asio::buffer(pending));
        if (w.error) co_return;
    }
    co::Promise<bool> other_done;
    auto back = [](std::shared_ptr<tcp::socket> app, std::shared_ptr<tcp::socket> peer, co::Promise<bool> done) -> co::Task<void> {
        co_await pump(*app, *peer, nullptr);
        done.set(true);
    };
    co::spawn(back(app, peer, other_done));
    co_await pump(*peer, *app, &taps);
    co_await other_done.wait();
    for (auto& t : taps) t->finish();
}

}  // namespace mrd::agent
