// The debugger's end of the GDB remote protocol: a listening TCP socket, one debugger at a time,
// packets in ("$...#xx", acknowledged until QStartNoAckMode) and interrupts (Ctrl-C), replies out,
// one write at a time. What the packets mean is the server's (gdb_server).
#pragma once

#include "tracer/gdb/gdb_protocol.hpp"
#include "base/co.hpp"
#include "base/result.hpp"

#include <asio.hpp>

#include <deque>
#include <functional>
#include <string>

namespace mrd::tracer::gdb {

class Connection {
public:
    struct Handlers {
        std::function<void()> on_connected;
        std::function<void(const std::string& payload)> on_packet;
        std::function<void()> on_interrupt;
        std::function<void()> on_disconnected;
    };
    Connection(asio::io_context& io, Handlers handlers) : handlers_(std::move(handlers)), acceptor_(io), socket_(io) {}

    // "HOST:PORT", ":PORT" or "[v6]:PORT" (port 0: any); the address it listens on. Debuggers that
    // connect wait in the backlog until accept() is called.
    Result<std::string> listen(const std::string& address);
    void accept();
    std::string address() const;
    // The session is over: the listener and any debugger's connection close (their coroutines end).
    void close();

    bool connected() const { return connected_; }
    void send_packet(const std::string& payload);
    // QStartNoAckMode was answered: from now on nothing is acknowledged, either way.
    void stop_acks() { no_ack_ = true; }
    // Ends this debugger's connection (after detach), once what is queued has gone.
    void hang_up();

private:
    co::Task<void> accept_loop();
    co::Task<void> read_loop();
    void send_raw(std::string bytes);
    void write_next();

    Handlers handlers_;
    asio::ip::tcp::acceptor acceptor_;
    asio::ip::tcp::socket socket_;
    bool accepting_ = false;
    bool connected_ = false;
    bool no_ack_ = false;
    bool hang_up_ = false;
    PacketReader reader_;
    std::deque<std::string> out_;
};

}  // namespace mrd::tracer::gdb
