#include "agent/server.hpp"

#include "wire/address.hpp"
#include "base/log.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace mrd::agent {

Server::Server(asio::io_context& io, std::chrono::seconds idle_timeout)
    : io_(io), idle_timeout_(idle_timeout), idle_timer_(io), silence_timer_(io), signals_(io, SIGINT, SIGTERM), client_uid_(::getuid()) {}

Status Server::authenticate_with(const wire::TlsIdentity& self, const std::string& client_fingerprint) {
    auto context = wire::pinned_tls_context(self, client_fingerprint, true);
    if (!context) return context.error();
    tls_ = *context;
    return {};
}

Status Server::listen(const std::string& spec) {
    std::error_code ec;
    if (spec.rfind("unix:", 0) == 0) {
        std::string path = spec.substr(5);
        ::unlink(path.c_str());
        auto acceptor = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
        asio::local::stream_protocol::endpoint endpoint(path);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) return Error{ec.value(), "listening on " + spec + ": " + ec.message()};
        unix_.push_back(std::move(acceptor));
        unix_paths_.push_back(path);
        addresses_.push_back(spec);
        return {};
    }
    if (!tls_) return Error::msg("listening on " + spec + " needs the session's fingerprint (--client-fingerprint): TCP clients must "
                                 "prove they hold the session's key", EPERM);
    auto hostport = wire::split_host_port(spec.rfind("tcp:", 0) == 0 ? spec.substr(4) : spec);
    if (!hostport) return hostport.error().context("listen address");
    uint16_t port = hostport->port;
    if (hostport->host == "localhost") {
        // Both loopbacks on one port (a port-forward may try either): IPv4 first, IPv6 if the host has it.
        if (auto st = listen("tcp:127.0.0.1:" + std::to_string(port)); !st) return st;
        if (auto st = listen("tcp:[::1]:" + std::to_string(tcp_.back()->local_endpoint(ec).port())); !st)
            log::debug("no IPv6 loopback: ", st.error().message);
        return {};
    }
    auto address = asio::ip::make_address(hostport->host.empty() ? "0.0.0.0" : hostport->host, ec);
    if (ec) return Error::msg("invalid listen address '" + spec + "': not an IP address", EINVAL);
    if (!address.is_loopback() && !beyond_loopback_)
        return Error::msg("listening on " + spec + " would let other machines reach the agent: use a loopback address (a "
                          "port-forward reaches it), or --listen-beyond-loopback", EPERM);
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(io_);
    asio::ip::tcp::endpoint endpoint(address, port);
    acceptor->open(endpoint.protocol(), ec);
    if (ec == asio::error::address_family_not_supported && address == asio::ip::address_v6::any()) {
        // "[::]" on a node without IPv6: IPv4 only.
        endpoint = asio::ip::tcp::endpoint(asio::ip::address_v4::any(), port);
        acceptor->open(endpoint.protocol(), ec = {});
    }
    // "[::]" serves IPv4 too (IPv4-mapped), whatever the node's bindv6only says: single- and dual-stack clusters.
    if (!ec && endpoint.address().is_v6() && endpoint.address().to_v6().is_unspecified())
        acceptor->set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error{ec.value(), "listening on " + spec + ": " + ec.message()};
    auto bound = acceptor->local_endpoint(ec);
    addresses_.push_back("tcp:" + wire::to_string(wire::from_endpoint(bound)));
    tcp_.push_back(std::move(acceptor));
    return {};
}

void Server::start(Context& ctx) {
    ctx_ = &ctx;
    for (auto& a : tcp_) accept(*a);
    for (auto& a : unix_) accept(*a);
    if (ctx.target.exit_fd() >= 0) {
        target_exit_.emplace(io_, ::dup(ctx.target.exit_fd()));
        target_exit_->async_wait(asio::posix::descriptor_base::wait_read, [this](std::error_code ec) {
            if (!ec) shutdown("the target (" + ctx_->target.describe() + ") exited");
        });
    }
    signals_.async_wait([this](std::error_code ec, int sig) {
        if (!ec) shutdown(std::string("signal ") + ::strsignal(sig));
    });
    arm_idle_timer();
    watch_silence();
}

template <class Acceptor>
void Server::accept(Acceptor& acceptor) {
    acceptor.async_accept([this, &acceptor](std::error_code ec, typename Acceptor::protocol_type::socket socket) {
        if (stopping_) return;
        if (ec) {
            log::warn("accept: ", ec.message());
        } else if constexpr (std::is_same_v<typename Acceptor::protocol_type, asio::ip::tcp>) {
            std::error_code ignored;
            std::string peer = wire::to_string(wire::from_endpoint(socket.remote_endpoint(ignored)));
            socket.set_option(asio::ip::tcp::no_delay(true), ignored);  // replies go out at once, not after a delayed ACK
            co::spawn(authenticate(wire::Session::Socket(std::move(socket)), peer));
        } else {
            std::string peer = "unix client #" + std::to_string(++unix_clients_);
            ucred cred{};
            socklen_t len = sizeof cred;
            if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != client_uid_) {
                log::warn("refused ", peer, ": uid ", cred.uid, " is not the session's (", client_uid_, ")");
            } else {
                add_client(wire::plain_transport(wire::Session::Socket(std::move(socket))), peer);
            }
        }
        accept(acceptor);
    });
}

size_t Server::sessions() const {
    return static_cast<size_t>(std::count_if(clients_.begin(), clients_.end(), [](auto& c) { return c->linked(); }));
}

co::Task<void> Server::authenticate(wire::Session::Socket socket, std::string peer) {
    // Nothing is read from a TCP client before it proves it holds the session's key.
    auto transport = co_await wire::tls_transport(std::move(socket), tls_, true, std::chrono::seconds(10));
    if (stopping_) co_return;
    if (!transport) {
        // A connection that closed without a word (a probe, a port scan) is no news; anything else is.
        bool silent = transport.error().message.find("stream truncated") != std::string::npos;
        log::at(silent ? log::Level::debug : log::Level::warn, "refused ", peer, ": ", transport.error().message);
        co_return;
    }
    add_client(std::move(*transport), peer);
}

void Server::add_client(std::unique_ptr<wire::Transport> transport, const std::string& peer) {
    Client::Hooks hooks;
    hooks.on_greeted = [this] {
        idle_armed_ = false;
        idle_timer_.cancel();
    };
    hooks.on_gone = [this](Client* gone) {
        std::erase_if(clients_, [gone](auto& c) { return c.get() == gone; });
        arm_idle_timer();
    };
    hooks.on_unlinked = [this] { arm_idle_timer(); };
    hooks.resume = [this](const std::string& token, const std::shared_ptr<wire::Session>& link, uint32_t hello_id,
                          const std::string& from) {
        for (auto& c : clients_)
            if (c->greeted() && c->token() == token) {
                c->adopt(link, hello_id, from);
                return true;
            }
        return false;
    };
    auto client = std::make_shared<Client>(*ctx_, std::move(transport), peer, std::move(hooks));
    clients_.insert(client);
    client->start();
}

void Server::watch_silence() {
    // A link that went half-open (a peer that vanished without a FIN) says nothing: clients ping
    // every few seconds, so silence means it is gone and its session is detached like any dropped one.
    silence_timer_.expires_after(std::chrono::seconds(10));
    silence_timer_.async_wait([this](std::error_code ec) {
        if (ec || stopping_) return;
        auto clients = clients_;
        for (auto& c : clients) c->drop_if_silent(kSilenceLimit);
        watch_silence();
    });
}

void Server::arm_idle_timer() {
    // Already counting: a connection that comes and goes without a session does not restart it.
    if (sessions() > 0 || idle_timeout_.count() == 0 || stopping_ || idle_armed_) return;
    idle_armed_ = true;
    idle_timer_.expires_after(idle_timeout_);
    idle_timer_.async_wait([this](std::error_code ec) {
        if (ec) return;
        idle_armed_ = false;
        if (sessions() == 0) shutdown("no session for " + std::to_string(idle_timeout_.count()) + "s");
    });
}

void Server::shutdown(const std::string& why) {
    if (stopping_) return;
    stopping_ = true;
    log::info("shutting down: ", why);
    std::error_code ignored;
    for (auto& a : tcp_) a->close(ignored);
    for (auto& a : unix_) a->close(ignored);
    for (auto& path : unix_paths_) ::unlink(path.c_str());
    idle_timer_.cancel();
    silence_timer_.cancel();
    signals_.cancel(ignored);
    if (target_exit_) target_exit_->close(ignored);
    auto clients = std::move(clients_);
    for (auto& c : clients) c->stop();
    // Let the sessions flush, then stop.
    asio::post(io_, [this] { io_.stop(); });
}

}  // namespace mrd::agent
