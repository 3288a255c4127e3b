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

co::Task<void> pump(tcp::socket& from, tcp::socket& to) {
    std::vector<char> buffer(64 * 1024);
    for (;;) {
        auto r = co_await co::read_some(from, asio::buffer(buffer));
        if (r.error) {
            std::error_code ignored;
            if (r.error == asio::error::eof) {
                to.shutdown(tcp::socket::shutdown_send, ignored);
            } else {
                from.close(ignored);
                to.close(ignored);
            }
            co_return;
        }
        auto w = co_await co::write_all(to, asio::buffer(buffer.data(), r.bytes));
        if (w.error) {
            std::error_code ignored;
            from.close(ignored);
            to.close(ignored);
            co_return;
        }
    }
}

co::Task<void> relay(std::shared_ptr<tcp::socket> peer, std::shared_ptr<tcp::socket> app, std::vector<char> pending) {
    if (!pending.empty()) {
        auto w = co_await co::write_all(*app, asio::buffer(pending));
        if (w.error) co_return;
    }
    co::Promise<bool> other_done;
    auto back = [](std::shared_ptr<tcp::socket> app, std::shared_ptr<tcp::socket> peer, co::Promise<bool> done) -> co::Task<void> {
        co_await pump(*app, *peer);
        done.set(true);
    };
    co::spawn(back(app, peer, other_done));
    co_await pump(*peer, *app);
    co_await other_done.wait();
}

}  // namespace mrd::agent
