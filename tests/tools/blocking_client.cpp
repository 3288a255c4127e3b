#include "tests/tools/blocking_client.hpp"

#include "wire/address.hpp"

#include <chrono>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace mrd::test {

using namespace mrd::wire;

BlockingClient::BlockingClient(const std::string& spec) {
    auto fail = [&](const std::string& why) { throw std::runtime_error("connect " + spec + ": " + why); };
    if (spec.rfind("unix:", 0) == 0) {
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strncpy(sa.sun_path, spec.c_str() + 5, sizeof sa.sun_path - 1);
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) fail(std::strerror(errno));
        return;
    }
    auto hp = wire::split_host_port(spec.rfind("tcp:", 0) == 0 ? spec.substr(4) : spec);
    addrinfo* ai = nullptr;
    if (!hp || getaddrinfo(hp->host.c_str(), std::to_string(hp->port).c_str(), nullptr, &ai) != 0) fail("bad address");
    fd_ = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = ::connect(fd_, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0) fail(std::strerror(errno));
}

BlockingClient::~BlockingClient() {
    if (fd_ >= 0) ::close(fd_);
}

Message BlockingClient::request(Message m) {
    uint32_t id = next_id_++;
    send(id, std::move(m));
    for (;;) {
        Envelope e = receive();
        if (e.id == id) return std::move(e.message);
        streamed_.push_back(std::move(e.message));
    }
}

void BlockingClient::send(uint32_t id, Message m) {
    auto frame = encode(Envelope{id, std::move(m)});
    send_raw(frame.data(), frame.size());
}

void BlockingClient::send_raw(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    for (size_t off = 0; off < size;) {
        ssize_t n = ::send(fd_, p + off, size - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("write to agent failed");
        off += static_cast<size_t>(n);
    }
}

Message BlockingClient::next_streamed() {
    if (!streamed_.empty()) {
        Message m = std::move(streamed_.front());
        streamed_.pop_front();
        return m;
    }
    return receive().message;
}

std::optional<Message> BlockingClient::next_streamed_for(int timeout_ms) {
    if (!streamed_.empty()) return next_streamed();
    auto e = receive_for(timeout_ms);
    if (!e) return std::nullopt;
    return std::move(e->message);
}

Envelope BlockingClient::receive() {
    for (;;) {
        auto frame = reader_.next();
        if (!frame) throw std::runtime_error(frame.error().message);
        if (frame->has_value()) {
            auto e = decode(**frame);
            if (!e) throw std::runtime_error(e.error().message);
            return std::move(e.value());
        }
        char buf[65536];
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) throw std::runtime_error("agent closed the connection");
        reader_.append(buf, static_cast<size_t>(n));
    }
}

std::optional<Envelope> BlockingClient::receive_for(int timeout_ms) {
    for (;;) {
        auto frame = reader_.next();
        if (frame && frame->has_value()) {
            auto e = decode(**frame);
            if (e) return std::move(e.value());
            return std::nullopt;
        }
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
        char buf[65536];
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) return std::nullopt;
        reader_.append(buf, static_cast<size_t>(n));
    }
}

bool BlockingClient::closed_by_peer(int timeout_ms) {
    // What the peer says before closing (its reason, an ErrorReply) is read and dropped.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buffer[4096];
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

}  // namespace mrd::test
