// Incoming traffic on the program's side. When the program binds and listens on a port, the agent
// is asked to mirror or steal the target's traffic for it (feature.network.incoming); what the
// agent sends — whole connections, or single HTTP requests that matched a filter — is delivered by
// connecting to the program's listening socket, and accept()/getpeername() report the real peer.
#pragma once

#include "tracer/remote/agent_client.hpp"
#include "tracer/policy/config.hpp"
#include "tracer/remote/interceptors.hpp"
#include "tracer/ptrace/syscall_router.hpp"

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace mrd::tracer {

// The filter to send for a port: feature.network.incoming.http_filter applies to its ports only.
wire::HttpFilter http_filter_for(const HttpFilterConfig& config, uint16_t port);

class IncomingTraffic {
public:
    IncomingTraffic(asio::io_context& io, AgentClient& agent, AddressMap& map, const IncomingConfig& config)
        : io_(io), agent_(agent), map_(map), config_(config) {}
    void install(SyscallRouter& router);
    // IncomingConnection and HttpRequest from the agent.
    void on_agent_message(wire::Message& message);
    // The target's remote_port to a local address without a program (`mirrord port-forward -R`),
    // in the configured mode (mirror or steal) with its HTTP filter.
    co::Task<Status> forward(uint16_t remote_port, const wire::SocketAddress& local);

private:
    struct Listener {
        wire::SocketAddress requested;  // what the program asked to bind
        uint16_t remote_port = 0;       // the target's port it stands for
    };
    co::Task<Verdict> bind(Call& call);
    co::Task<Verdict> listen(Call& call);
    co::Task<Verdict> accept(Call& call);
    co::Task<void> deliver_connection(wire::IncomingConnection message);
    // A stolen connection whose socket came along (a local agent): the program's accept() of the
    // loopback connection made for it gets that socket instead, and nothing is relayed.
    struct Handover;
    co::Task<void> hand_over(wire::IncomingConnection message);
    void take_handover(const wire::SocketAddress& seen, UniqueFd& accepted);
    co::Task<void> deliver_request(wire::HttpRequest message);
    // A connection to the program, its socket given to a local agent for the requests that match
    // (ProgramConnect): the agent writes them and reads the answers itself. The peer it stands for
    // stays registered until the agent is done with it (Close) or the link ends.
    co::Task<void> give_program_connection(wire::ProgramConnect request);
    // A connection to the program for requests of one of the target's connections, kept between them.
    struct ProgramConnection {
        asio::ip::tcp::socket socket;
        wire::SocketAddress local;  // registered as standing for the peer
    };
    // Writes request, reads the response (whole, or empty); false if the connection ended first
    // with nothing read. keep: the connection may carry the next one.
    co::Task<bool> exchange(asio::ip::tcp::socket& socket, const wire::Bytes& request, bool head, std::string& response, bool& keep);
    std::optional<ProgramConnection> take_kept(uint64_t conn);
    void keep_for(uint64_t conn, ProgramConnection program);
    void sweep_kept();
    void drop(ProgramConnection program);
    // Copies of one mirrored connection's requests, delivered one after the other in their order.
    co::Task<void> deliver_mirrored(uint64_t conn);
    co::Task<void> deliver_h2_request(wire::HttpRequest message);
    // A connection to the program's listener for the target's port, its local address registered as
    // standing for peer.
    // called: told the connection's local address as soon as connect() is called, before the
    // program can accept it (a pointer: no temporary with a destructor in callers' co_await).
    co::Task<std::optional<asio::ip::tcp::socket>> connect_to_program(uint16_t port, const wire::SocketAddress& peer,
                                                                       const std::function<void(const wire::SocketAddress&)>* called = nullptr);
    bool ignored(const wire::SocketAddress& requested, uint16_t remote_port) const;
    // A listener the target's traffic goes to, checked every second: once the program has closed
    // it, the port is given back to the target's app (as mirrord unsubscribes on close).
    struct Watched {
        std::shared_ptr<Process> process;
        int fd;
        uint64_t socket;
        uint16_t remote_port;
    };
    void watch_listeners();
    void check_listeners();
    co::Task<void> unsubscribe(uint16_t port);
    co::Task<Status> subscribe(uint16_t remote_port, const wire::SocketAddress& local, bool program);

    asio::io_context& io_;
    AgentClient& agent_;
    AddressMap& map_;
    const IncomingConfig& config_;
    std::map<uint64_t, Listener> bound_;          // by socket inode
    std::map<uint16_t, wire::SocketAddress> listening_;         // target port -> where the program listens
    std::set<uint16_t> subscribed_;
    std::map<uint64_t, std::deque<wire::HttpRequest>> mirrored_;  // copies waiting, by connection
    // Copies wait for the program at most this many at once: past it, new ones are dropped (a
    // mirror is a copy of what passes; a program slower than the target's traffic sees part of it).
    static constexpr size_t kMaxWaitingCopies = 10000;
    size_t copies_waiting_ = 0;
    uint64_t copies_dropped_ = 0;
    std::map<std::string, std::shared_ptr<Handover>> handovers_;  // by the loopback address accept() sees
    struct Kept {
        ProgramConnection program;
        std::chrono::steady_clock::time_point since;
    };
    static constexpr size_t kMaxKept = 256;
    static constexpr auto kKeptIdle = std::chrono::seconds(2);  // under servers' own idle timeouts
    std::map<uint64_t, Kept> kept_;  // idle, by the target's connection
    asio::steady_timer kept_timer_{io_};
    bool sweeping_kept_ = false;
    std::vector<Watched> watched_;
    asio::steady_timer watch_timer_{io_};
    bool watching_ = false;
};

}  // namespace mrd::tracer
