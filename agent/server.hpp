// Accepts clients on TCP and unix listeners and runs until the target exits, a signal arrives, or no
// session (a client past the handshake) has been open for the idle timeout.
#pragma once

#include "agent/client.hpp"
#include "wire/tls_identity.hpp"
#include "wire/transport.hpp"

#include <chrono>
#include <set>

namespace mrd::agent {

class Server {
public:
    Server(asio::io_context& io, std::chrono::seconds idle_timeout);
    // TCP clients: TLS 1.3, this agent's identity presented, the client's pinned. Without it, only
    // unix listeners are allowed, and a unix client must run as client_uid.
    Status authenticate_with(const wire::TlsIdentity& self, const std::string& client_fingerprint);
    void set_client_uid(uid_t uid) { client_uid_ = uid; }
    // TCP listeners beyond loopback (still authenticated): only when asked for explicitly.
    void allow_beyond_loopback() { beyond_loopback_ = true; }
    // "tcp:HOST:PORT", "HOST:PORT" or "unix:PATH". Must be called before the target's namespaces are
    // entered so the listener stays reachable from where the client is.
    Status listen(const std::string& spec);
    std::vector<std::string> addresses() const { return addresses_; }
    // Starts serving; ctx must outlive the server.
    void start(Context& ctx);
    void shutdown(const std::string& why);

private:
    template <class Acceptor> void accept(Acceptor& acceptor);
    co::Task<void> authenticate(wire::Session::Socket socket, std::string peer);
    void add_client(std::unique_ptr<wire::Transport> transport, const std::string& peer);
    void arm_idle_timer();
    void watch_silence();
    static constexpr std::chrono::seconds kSilenceLimit{60};
    // Sessions with a live link: one waiting to be resumed does not keep the agent alive by itself,
    // so agent.communication_timeout bounds how long a killed CLI leaves its redirects behind.
    size_t sessions() const;

    asio::io_context& io_;
    Context* ctx_ = nullptr;
    std::chrono::seconds idle_timeout_;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> tcp_;
    std::vector<std::unique_ptr<asio::local::stream_protocol::acceptor>> unix_;
    std::vector<std::string> unix_paths_;
    std::vector<std::string> addresses_;
    std::set<std::shared_ptr<Client>> clients_;
    asio::steady_timer idle_timer_;
    asio::steady_timer silence_timer_;
    std::optional<asio::posix::stream_descriptor> target_exit_;
    asio::signal_set signals_;
    uint64_t unix_clients_ = 0;
    bool stopping_ = false;
    bool idle_armed_ = false;
    std::shared_ptr<asio::ssl::context> tls_;
    uid_t client_uid_;
    bool beyond_loopback_ = false;
};

}  // namespace mrd::agent
