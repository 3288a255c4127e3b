// Asio operations as awaitables for wire/co.hpp coroutines. The callbacks hold only the shared
// promise state, so a socket closed under a pending operation is safe.
#pragma once

#include "base/co.hpp"
#include "base/unique_fd.hpp"

#include <asio.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace mrd::co {

struct IoResult {
    std::error_code error;
    size_t bytes = 0;
};

template <class Stream>
Promise<IoResult>::Awaiter read_some(Stream& stream, asio::mutable_buffer buffer) {
    Promise<IoResult> done;
    stream.async_read_some(buffer, [done](std::error_code ec, size_t n) { done.set(IoResult{ec, n}); });
    return done.wait();
}

template <class Stream>
Promise<IoResult>::Awaiter write_all(Stream& stream, asio::const_buffer buffer) {
    Promise<IoResult> done;
    asio::async_write(stream, buffer, [done](std::error_code ec, size_t n) { done.set(IoResult{ec, n}); });
    return done.wait();
}

template <class Socket, class Endpoint>
Promise<std::error_code>::Awaiter connect(Socket& socket, const Endpoint& endpoint) {
    Promise<std::error_code> done;
    socket.async_connect(endpoint, [done](std::error_code ec) { done.set(ec); });
    return done.wait();
}

// The next connection on an acceptor: {error, socket}.
template <class Acceptor, class Socket = typename Acceptor::protocol_type::socket>
typename Promise<std::pair<std::error_code, Socket>>::Awaiter accept(Acceptor& acceptor) {
    Promise<std::pair<std::error_code, Socket>> accepted;
    acceptor.async_accept([accepted](std::error_code ec, Socket s) { accepted.set({ec, std::move(s)}); });
    return accepted.wait();
}

// A socket's descriptor taken from Asio to be passed on (SCM_RIGHTS). Released, so that Asio takes
// it out of its epoll set: closing a duplicate instead leaves the registration alive for as long as
// the receiver keeps the connection, and every packet on it wakes this process for nothing.
template <class Socket>
UniqueFd release_socket(Socket& socket) {
    std::error_code ec;
    int fd = socket.release(ec);
    return UniqueFd(ec ? -1 : fd);
}

// After the loop stopped: lets the waits that closing cancelled (timers, sockets) complete, so their
// coroutines end instead of staying suspended, and their frames freed, forever.
inline void drain(asio::io_context& io) {
    io.restart();
    for (int round = 0; round < 100 && io.poll() > 0; ++round) {}
}

inline Promise<std::error_code>::Awaiter sleep(asio::steady_timer& timer, std::chrono::milliseconds duration) {
    Promise<std::error_code> done;
    timer.expires_after(duration);
    timer.async_wait([done](std::error_code ec) { done.set(ec); });
    return done.wait();
}

// Writes queued by anyone, performed one at a time, in order (Asio allows one write in flight). It
// shares the stream: a write still in flight when its other users are done keeps the stream alive.
template <class Stream>
class WriteQueue : public std::enable_shared_from_this<WriteQueue<Stream>> {
public:
    explicit WriteQueue(std::shared_ptr<Stream> stream) : stream_(std::move(stream)) {}
    void send(std::string bytes) {
        if (bytes.empty() || failed_) return;
        queue_.push_back(std::move(bytes));
        if (queue_.size() == 1) next();
    }
    bool failed() const { return failed_; }

private:
    void next() {
        asio::async_write(*stream_, asio::buffer(queue_.front()), [self = this->shared_from_this()](std::error_code ec, size_t) {
            if (ec) {
                self->failed_ = true;
                self->queue_.clear();
                return;
            }
            self->queue_.pop_front();
            if (!self->queue_.empty()) self->next();
        });
    }
    std::shared_ptr<Stream> stream_;
    std::deque<std::string> queue_;
    bool failed_ = false;
};

}  // namespace mrd::co
