// The target's incoming traffic, shared out among the agent's clients.
//
// A stolen port is redirected (RedirectRules) to listeners of the agent inside the target's
// network namespace. For each connection, by the subscriptions on its original port:
//   steal, no filter     the whole connection goes to that client (one such client per port): its
//                        socket itself when the client takes sockets of that family (a local
//                        program's accept() gets it), else relayed;
//   steal with filters   each HTTP/1 request goes to the first client whose filter matches, the rest
//                        to the target's own application, in order, on the same connection; a
//                        local client's program gets them on a connection of its own, which the
//                        client passes (connect_program), else each goes as a message.
// A mirrored port is not redirected: its connections stay the application's, and PacketCapture
// copies what their peers send as it arrives; each mirroring client gets a copy of every new
// connection's requests (SniffedFlows, HttpMirrorTap), whose answers it drops.
#pragma once

#include "agent/http_filter.hpp"
#include "agent/redirect_rules.hpp"
#include "agent/sniffed_flows.hpp"
#include "base/co.hpp"
#include "wire/connections.hpp"

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace mrd::agent {

class PacketCapture;

// What Incoming needs of a client session.
class IncomingSink {
public:
    virtual ~IncomingSink() = default;
    virtual uint64_t new_incoming_id() = 0;
    virtual std::weak_ptr<wire::Outbox> outbox() = 0;
    virtual wire::ConnectionTable& connections() = 0;
    // Sends the request; the client's response, or nullopt when the client is gone.
    virtual co::Promise<std::optional<wire::HttpResponse>>::Awaiter http(wire::HttpRequest&& request) = 0;
    // True once the client's link is up (at once unless it is reconnecting); false if it ends first.
    virtual co::Promise<bool>::Awaiter attached() = 0;
    // A connection to the client's own program listening for `port`, for requests that matched its
    // filter (wire::ProgramConnect); nullopt when the client cannot give one (it is not local, or
    // not linked, or its program does not accept): then requests go as messages.
    struct ProgramSocket {
        uint64_t conn;
        asio::ip::tcp::socket socket;
    };
    virtual co::Promise<std::optional<ProgramSocket>>::Awaiter connect_program(uint16_t port, const wire::SocketAddress& remote) = 0;
    // Done with connect_program's connection `conn` (closed here): the client forgets it.
    virtual void release_program(uint64_t conn) = 0;
};

class Incoming {
public:
    // capture: null when the agent cannot capture packets (then mirroring is refused).
    Incoming(asio::io_context& io, std::unique_ptr<RedirectRules> rules, std::unique_ptr<PacketCapture> capture,
             bool flush_connections);
    ~Incoming();

    // client: a stable id for the session; conflicting steals are refused with EADDRINUSE.
    Status subscribe(uint64_t client, std::weak_ptr<IncomingSink> sink, const wire::PortSubscribe& request);
    void unsubscribe(uint64_t client, uint16_t port);
    void client_gone(uint64_t client);
    void shutdown();

private:
    struct Subscriber {
        uint64_t client;
        std::weak_ptr<IncomingSink> sink;
        bool steal;
        HttpMatcher matcher;
        int pass_family;  // takes a whole stolen connection's socket of this family itself (PortSubscribe)
    };
    using Listener = std::shared_ptr<asio::ip::tcp::acceptor>;  // shared with its accept loop, which may outlive the port
    struct Port {
        // While stolen: on one port number, [::] dual-stack, or 0.0.0.0 and [::] IPv6-only when the
        // thief takes IPv4 sockets (a program listening on IPv4 is handed what it would accept).
        std::vector<Listener> listeners;
        bool ipv4_apart = false;
        std::vector<Subscriber> subscribers;
        bool stolen() const;
        bool mirrored() const;
        bool wants_ipv4_apart() const;
    };

    Status listen(Port& port, uint16_t number);
    static void close(std::vector<Listener>& listeners);
    Status update_rules();
    Status update_capture();
    Taps open_taps(const asio::ip::tcp::endpoint& peer, const asio::ip::tcp::endpoint& local);
    void forget_idle_flows();
    void flush(uint16_t port);
    co::Task<void> accept_loop(uint16_t port, Listener listener);
    co::Task<void> serve(asio::ip::tcp::socket socket);

    asio::io_context& io_;
    std::unique_ptr<RedirectRules> rules_;
    std::unique_ptr<PacketCapture> capture_;
    SniffedFlows flows_;
    asio::steady_timer idle_flows_;
    bool flush_connections_;
    std::map<uint16_t, Port> ports_;
};

}  // namespace mrd::agent
