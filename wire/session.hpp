// A framed, bidirectional message session over any stream socket (TCP, unix). Outgoing messages are
// batched into few writes; when the peer stops reading, reading from it pauses too, so neither side
// buffers without bound.
#pragma once

#include "wire/codec.hpp"
#include "wire/transport.hpp"

#include <asio.hpp>

#include <functional>
#include <memory>

namespace mrd::wire {

// Anything messages can be sent to: a Session, or a test double.
class Outbox {
public:
    virtual ~Outbox() = default;
    virtual void send(uint32_t id, Message message) = 0;
};

class Session : public Outbox, public std::enable_shared_from_this<Session> {
public:
    using Socket = Transport::Socket;
    struct Handlers {
        std::function<void(Envelope&&)> on_message;
        std::function<void(const Error&)> on_closed;  // once; message empty for an orderly close
    };

    static std::shared_ptr<Session> create(Socket socket, Handlers handlers);  // plain
    static std::shared_ptr<Session> create(std::unique_ptr<Transport> transport, Handlers handlers);
    void start();
    // Hands the session to another owner (a resumed agent session adopts a new link).
    void set_handlers(Handlers handlers) { handlers_ = std::move(handlers); }
    void send(uint32_t id, Message message) override;
    // When bytes last came from the peer: a link that has gone silent is dead (keep-alives).
    std::chrono::steady_clock::time_point last_heard() const { return last_heard_; }
    // Flushes what is queued, then closes. Handlers are not called after this.
    void close();
    // Closes at once, after reading what has already arrived (handlers are not called): for a link
    // that a resumed one replaces, whose end may not have been read yet. Returns how it ended, as
    // far as those bytes tell (the peer's farewell, a frame cut short), or that nothing said so.
    Error end_now();
    bool is_open() const { return open_; }
    // Open files can ride along with messages (FileOpened{passed}): a unix socket.
    bool passes_fds() const { return transport_->passes_fds(); }

private:
    Session(std::unique_ptr<Transport> transport, Handlers handlers);
    void read_more();
    void on_read(size_t n);
    void flush();
    void fail(const Error& error);
    // A malformed frame: the other end is told why, then the link closes.
    void refuse(const Error& error);
    Error end_of_link() const;  // what the peer's close means
    Error read_failed(std::error_code ec) const;

    static constexpr size_t kPauseReadingAbove = 32u << 20;
    static constexpr size_t kResumeReadingBelow = 8u << 20;

    std::unique_ptr<Transport> transport_;
    Handlers handlers_;
    FrameReader reader_;
    std::vector<char> pending_;  // encoded, not yet handed to the socket
    std::vector<char> writing_;  // being written
    std::vector<UniqueFd> pending_fds_;  // files passed with messages in pending_
    std::chrono::steady_clock::time_point last_heard_ = std::chrono::steady_clock::now();
    bool reading_ = false;
    bool writing_active_ = false;
    bool open_ = true;
    bool closing_ = false;
    bool cut_ = false;       // a frame was cut short (fault injection): nothing more is sent
    std::string farewell_;   // the peer's reason for closing (an ErrorReply with id 0)
};

}  // namespace mrd::wire
