// Multiplexed connections over a session: each connection id maps to an endpoint that relays a real
// socket. Used identically by the agent (remote sockets) and the supervisor (interceptor sockets).
#pragma once

#include "wire/session.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>

namespace mrd::wire {

class Endpoint {
public:
    virtual ~Endpoint() = default;
    virtual void on_data(Bytes bytes) = 0;
    virtual void on_window(uint32_t bytes) = 0;
    virtual void on_eof() = 0;
    virtual void on_close(int code) = 0;  // the peer is gone; release the socket
};

class ConnectionTable {
public:
    void add(uint64_t conn, std::shared_ptr<Endpoint> endpoint) { endpoints_[conn] = std::move(endpoint); }
    void remove(uint64_t conn) { endpoints_.erase(conn); }
    std::shared_ptr<Endpoint> find(uint64_t conn) const;
    size_t size() const { return endpoints_.size(); }
    // Delivers Data/WindowUpdate/Eof/Close to their endpoint; false for any other message.
    bool route(Message& message);
    // The session is gone: every endpoint is closed.
    void close_all(int code);

private:
    std::map<uint64_t, std::shared_ptr<Endpoint>> endpoints_;
};

// Relays a stream socket (TCP, or unix) and a connection id with per-direction credit: at most kInitialWindow bytes are
// in flight each way, so a slow reader slows the writer instead of filling memory. The socket may be
// attached after creation (the supervisor accepts the tracee's connection after the agent connected);
// data arriving before that is held, bounded by the window.
class StreamBridge : public Endpoint, public std::enable_shared_from_this<StreamBridge> {
public:
    StreamBridge(uint64_t conn, std::weak_ptr<Outbox> outbox, ConnectionTable& table);
    void attach(asio::ip::tcp::socket socket);
    void attach(asio::local::stream_protocol::socket socket);
    void on_data(Bytes bytes) override;
    void on_window(uint32_t bytes) override;
    void on_eof() override;
    void on_close(int code) override;
    uint64_t conn() const { return conn_; }
    // Tells the peer the connection is gone (code: errno) and releases the socket.
    void abort(int code);
    // Called once when the bridge lets go of its connection, whichever side ended it.
    void on_release(std::function<void()> callback) { on_release_ = std::move(callback); }

private:
    void read_more();
    void write_more();
    void finish_if_done();
    void release();
    void send(Message message);
    void acknowledge(size_t written);  // returns credit to the sender, in batches

    uint64_t conn_;
    std::weak_ptr<Outbox> outbox_;
    ConnectionTable& table_;
    void attach_stream(asio::generic::stream_protocol::socket socket);
    std::optional<asio::generic::stream_protocol::socket> socket_;
    std::vector<char> read_buffer_;
    std::deque<Bytes> write_queue_;
    uint64_t send_credit_ = kInitialWindow;
    uint64_t unacknowledged_ = 0;  // written here since credit last went back
    bool reading_ = false, writing_ = false;
    bool sent_eof_ = false, peer_eof_ = false, released_ = false;
    std::function<void()> on_release_;
};

}  // namespace mrd::wire
