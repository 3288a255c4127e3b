// The local end of remote connections: sockets on loopback owned by the supervisor, each relayed
// over the agent session (TCP: see TcpConnects; UDP: one relay per remote destination; unix
// streams: a listener per connection).
// AddressMap remembers which loopback address stands for which remote one, so getpeername(),
// getsockname() and recvfrom() can report the remote view.
#pragma once

#include "tracer/remote/agent_client.hpp"
#include "tracer/policy/outgoing_policy.hpp"

#include <atomic>
#include <map>
#include <memory>

namespace mrd::tracer {

class AddressMap {
public:
    // An interceptor's address stands for this remote peer.
    void add_peer(const wire::SocketAddress& interceptor, const wire::SocketAddress& remote);
    void remove_peer(const wire::SocketAddress& interceptor);
    std::optional<wire::SocketAddress> remote_of(const wire::SocketAddress& interceptor) const;
    bool is_interceptor(const wire::SocketAddress& address) const { return remote_of(address).has_value(); }
    // A tracee socket bound at local (on loopback, talking to an interceptor) appears as remote_local.
    void add_local(const wire::SocketAddress& local, const wire::SocketAddress& remote_local);
    void remove_local(const wire::SocketAddress& local);
    std::optional<wire::SocketAddress> local_of(const wire::SocketAddress& local) const;
    // Whether any UDP interceptor exists: only then do received datagrams need their source
    // rewritten. Read on the notification listener's thread too, hence atomic.
    bool any_datagram_peers() const { return datagram_peers_.load(std::memory_order_relaxed) > 0; }
    void count_datagram_peer() { datagram_peers_.fetch_add(1, std::memory_order_relaxed); }

private:
    std::map<std::pair<std::string, uint16_t>, wire::SocketAddress> peers_, locals_;
    std::atomic<size_t> datagram_peers_{0};
};

class Interceptors {
public:
    // policy: read when datagrams arrive (feature.network.dns.filter splits DNS questions).
    Interceptors(asio::io_context& io, AgentClient& agent, AddressMap& map, const OutgoingPolicy& policy)
        : io_(io), agent_(agent), map_(map), policy_(policy) {}

    // The relay for a TCP connection the agent made (conn), registered at once so data the target
    // sends first is kept until the program's side is attached.
    std::shared_ptr<wire::StreamBridge> bridge_for(const wire::Connected& connected);
    // The supervisor's end of the program's connection: the program sees peer_seen as its peer and
    // program_local as its own address, which getpeername()/getsockname() translate.
    void attach_tcp(std::shared_ptr<wire::StreamBridge> bridge, asio::ip::tcp::socket socket, const wire::SocketAddress& peer_seen,
                    const wire::SocketAddress& program_local, const wire::Connected& connected);
    // The same for a connection whose target-side socket the agent passed (connected.fd): relayed
    // here, between that socket and the supervisor's end.
    void relay_here(asio::ip::tcp::socket socket, const wire::SocketAddress& peer_seen, const wire::SocketAddress& program_local,
                    const wire::Connected& connected);
    // The same for a unix stream socket the agent connected in the target (conn): the path of a
    // listener in a private directory to point the tracee's connect() at.
    Result<std::string> expect_unix(uint64_t conn);
    void cancel_unix(const std::string& path);
    bool is_unix_interceptor(const std::string& path) const;
    ~Interceptors();

    // The loopback socket that relays datagrams to remote (DNS questions the filter keeps local: to
    // our nameserver).
    Result<wire::SocketAddress> udp_for(const wire::SocketAddress& remote, bool ipv6);

private:
    template <class Protocol>
    class PendingStream;
    class UdpRelay;
    asio::io_context& io_;
    AgentClient& agent_;
    AddressMap& map_;
    const OutgoingPolicy& policy_;
    std::map<std::string, std::shared_ptr<PendingStream<asio::local::stream_protocol>>> pending_unix_;
    std::string unix_dir_;
    std::map<std::pair<std::pair<std::string, uint16_t>, bool>, std::shared_ptr<UdpRelay>> udp_;
};

// The family-independent form used as a map key: v4-mapped IPv6 becomes IPv4.
std::pair<std::string, uint16_t> address_key(const wire::SocketAddress& a);

}  // namespace mrd::tracer
