#include "wire/transport.hpp"

#include <sys/socket.h>

#include <cstring>

namespace mrd::wire {

namespace {

class PlainTransport : public Transport {
public:
    explicit PlainTransport(Socket socket) : socket_(std::move(socket)) {
        std::error_code ec;
        unix_ = socket_.local_endpoint(ec).protocol().family() == AF_UNIX && !ec;
        if (unix_) socket_.native_non_blocking(true, ec);
    }
    void read_some(asio::mutable_buffer buffer, Handler done) override {
        if (!unix_) return socket_.async_read_some(buffer, std::move(done));
        receive(buffer, std::move(done));
    }
    void write_all(asio::const_buffer buffer, Handler done) override {
        if (outgoing_fds_.empty()) return asio::async_write(socket_, buffer, std::move(done));
        send_with_fds(buffer, std::move(done));
    }
    void close() override {
        std::error_code ignored;
        socket_.shutdown(asio::socket_base::shutdown_both, ignored);
        socket_.close(ignored);
    }
    bool passes_fds() const override { return unix_; }
    void send_with_next_write(std::vector<UniqueFd> fds) override {
        if (!unix_) return;  // dropped (closed): the peer finds none
        for (auto& fd : fds) outgoing_fds_.push_back(std::move(fd));
    }
    std::optional<UniqueFd> take_received_fd() override {
        if (incoming_fds_.empty()) return std::nullopt;
        UniqueFd fd = std::move(incoming_fds_.front());
        incoming_fds_.pop_front();
        return fd;
    }

private:
    static constexpr size_t kMaxFds = 64;  // per message, as the kernel allows up to 253

    // After a call failed with errno: if only because the socket was not ready, again once it is.
    template <class Again>
    bool again_when_ready(asio::socket_base::wait_type wait, Handler& done, Again again) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        socket_.async_wait(wait, [done = std::move(done), again](std::error_code ec) mutable {
            if (ec) return done(ec, 0);
            again(std::move(done));
        });
        return true;
    }

    size_t read_ready(asio::mutable_buffer buffer, std::error_code& ec) override {
        ssize_t n = unix_ ? receive_now(buffer) : ::recv(socket_.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
        ec = read_error(n, buffer);
        return ec ? 0 : static_cast<size_t>(n);
    }

    // What a recv's result n means: errno, the end of the stream (0 bytes into room for some), or none.
    static std::error_code read_error(ssize_t n, asio::mutable_buffer buffer) {
        if (n < 0) return std::error_code(errno, asio::error::get_system_category());
        if (n == 0 && buffer.size() > 0) return asio::error::eof;
        return {};
    }

    // recvmsg, so that files passed along are kept (read() would close them). Tried at once, then
    // after the socket is readable; completions are posted, never run inside this call.
    void receive(asio::mutable_buffer buffer, Handler done) {
        ssize_t n = receive_now(buffer);
        if (n < 0 && again_when_ready(asio::socket_base::wait_read, done, [this, buffer](Handler d) { receive(buffer, std::move(d)); }))
            return;
        std::error_code ec = read_error(n, buffer);
        asio::post(socket_.get_executor(), [done = std::move(done), ec, n] { done(ec, ec ? 0 : static_cast<size_t>(n)); });
    }

    // One non-blocking recvmsg; the files that came with the bytes are queued.
    ssize_t receive_now(asio::mutable_buffer buffer) {
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
        iovec iov{buffer.data(), buffer.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        for (cmsghdr* c = n > 0 ? CMSG_FIRSTHDR(&msg) : nullptr; c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                incoming_fds_.emplace_back(fd);
            }
        }
        return n;
    }

    // The first bytes go with the files (sendmsg), the rest as usual.
    void send_with_fds(asio::const_buffer buffer, Handler done) {
        size_t count = std::min(outgoing_fds_.size(), kMaxFds);
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
        iovec iov{const_cast<void*>(buffer.data()), buffer.size()};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * count);
        for (size_t i = 0; i < count; ++i) {
            int fd = outgoing_fds_[i].get();
            std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
        }
        ssize_t n = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && again_when_ready(asio::socket_base::wait_write, done, [this, buffer](Handler d) { write_all(buffer, std::move(d)); }))
            return;
        if (n < 0) {
            std::error_code ec(errno, asio::error::get_system_category());
            return asio::post(socket_.get_executor(), [done = std::move(done), ec] { done(ec, 0); });
        }
        outgoing_fds_.erase(outgoing_fds_.begin(), outgoing_fds_.begin() + static_cast<ptrdiff_t>(count));  // ours closed: the peer has them
        size_t sent = static_cast<size_t>(n);
        if (sent == buffer.size()) return asio::post(socket_.get_executor(), [done = std::move(done), sent] { done({}, sent); });
        write_all(buffer + sent, [done = std::move(done), sent](std::error_code ec, size_t more) { done(ec, sent + more); });
    }

    Socket socket_;
    bool unix_ = false;
    std::deque<UniqueFd> outgoing_fds_, incoming_fds_;
};

}  // namespace

std::unique_ptr<Transport> plain_transport(Transport::Socket socket) { return std::make_unique<PlainTransport>(std::move(socket)); }

}  // namespace mrd::wire
