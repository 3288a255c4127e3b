#include "wire/session.hpp"

#include "base/log.hpp"
#include "wire/fault_injection.hpp"

#include <optional>

namespace mrd::wire {

std::shared_ptr<Session> Session::create(Socket socket, Handlers handlers) {
    return create(plain_transport(std::move(socket)), std::move(handlers));
}

std::shared_ptr<Session> Session::create(std::unique_ptr<Transport> transport, Handlers handlers) {
    return std::shared_ptr<Session>(new Session(std::move(transport), std::move(handlers)));
}

Session::Session(std::unique_ptr<Transport> transport, Handlers handlers)
    : transport_(std::move(transport)), handlers_(std::move(handlers)) {}

void Session::start() { read_more(); }

void Session::read_more() {
    if (reading_ || !open_ || closing_) return;
    if (pending_.size() + writing_.size() > kPauseReadingAbove) return;  // resumed by flush()
    reading_ = true;
    auto room = reader_.prepare();  // read straight into the frame buffer
    transport_->read_some(asio::buffer(room.data(), room.size()), [self = shared_from_this()](std::error_code ec, size_t n) {
        self->reading_ = false;
        if (!self->open_ || self->closing_) return;
        if (ec) return self->fail(self->read_failed(ec));
        self->on_read(n);
    });
}

void Session::on_read(size_t n) {
    last_heard_ = std::chrono::steady_clock::now();
    reader_.commit(n);
    auto self = shared_from_this();  // a handler may drop the last other reference
    while (open_ && !closing_) {
        auto frame = reader_.next();
        if (!frame) return refuse(frame.error());
        if (!frame->has_value()) break;
        auto envelope = decode(**frame);
        if (!envelope) return refuse(envelope.error());
        fault::on_receive(kind_of(envelope->message));
        if (auto* fd = passed_fd(envelope->message)) {
            // It came with these bytes or before them, in order (a missing one: an empty fd).
            auto received = transport_->take_received_fd();
            *fd = std::make_shared<UniqueFd>(received ? std::move(*received) : UniqueFd());
        }
        if (envelope->id == 0 && std::holds_alternative<ErrorReply>(envelope->message)) {
            farewell_ = std::get<ErrorReply>(envelope->message).message;  // why the peer is closing
            continue;
        }
        if (handlers_.on_message) handlers_.on_message(std::move(envelope.value()));
    }
    read_more();
}

void Session::send(uint32_t id, Message message) {
    if (!open_ || cut_) return;
    size_t start = pending_.size();
    Kind kind = kind_of(message);
    if (auto* fd = passed_fd(message); fd && *fd && (*fd)->ok())
        pending_fds_.push_back(std::move(**fd));  // sent with the write that carries this message
    encode(Envelope{id, std::move(message)}, pending_);
    switch (fault::on_send(kind)) {
        case fault::Send::as_is: break;
        case fault::Send::corrupt:  // 0xc1 is never valid msgpack
            std::fill(pending_.begin() + static_cast<ptrdiff_t>(start + 4), pending_.end(), '\xc1');
            break;
        case fault::Send::truncate:
            pending_.resize(start + 4 + (pending_.size() - start - 4) / 2);
            cut_ = true;  // nothing more goes out; the link closes once this is written
            break;
    }
    flush();
}

Error Session::end_of_link() const {
    if (!farewell_.empty()) return Error{EPROTO, "the other end closed the link: " + farewell_};
    if (reader_.buffered() > 0) return Error{EPROTO, "the link closed in the middle of a message"};
    return Error{};  // an orderly close
}

Error Session::read_failed(std::error_code ec) const {
    if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated)
        return end_of_link();
    return Error{ec.value(), "session read: " + ec.message()};
}

Error Session::end_now() {
    auto self = shared_from_this();
    std::optional<Error> how;
    handlers_ = {nullptr, [&how](const Error& error) { how = error; }};
    while (open_ && !closing_) {
        auto room = reader_.prepare();
        std::error_code ec;
        size_t n = transport_->read_ready(asio::buffer(room.data(), room.size()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) break;
        if (ec) {
            fail(read_failed(ec));
            break;
        }
        on_read(n);
    }
    handlers_ = {};
    // Closed now, even after a refusal: a read still pending must not land in the frame buffer,
    // which prepare() may have moved.
    open_ = false;
    transport_->close();
    return how.value_or(Error{ENOTCONN, "its end was not seen on it"});
}

void Session::refuse(const Error& error) {
    log::debug("session: ", error.message, "; closing the link");
    if (!open_ || closing_) return;
    // Tell the other end why before closing, so that both sides can say what happened.
    encode(Envelope{0, ErrorReply{EPROTO, "it could not read a message from this end (" + error.message + ")"}}, pending_);
    auto on_closed = std::move(handlers_.on_closed);
    handlers_ = {};
    closing_ = true;
    flush();
    if (on_closed) on_closed(Error{EPROTO, "could not read a message (" + error.message + ")"});
}

void Session::flush() {
    if (writing_active_ || !open_) return;
    if (pending_.empty()) {
        if (cut_) return fail(Error{EPROTO, "a frame was cut short on purpose (MIRRORD_FAULT)"});
        if (closing_) {
            transport_->close();
            open_ = false;
        } else {
            read_more();
        }
        return;
    }
    writing_.swap(pending_);
    if (!pending_fds_.empty()) transport_->send_with_next_write(std::exchange(pending_fds_, {}));
    writing_active_ = true;
    transport_->write_all(asio::buffer(writing_), [self = shared_from_this()](std::error_code ec, size_t) {
        self->writing_active_ = false;
        self->writing_.clear();
        if (ec) {
            if (!self->closing_) self->fail(Error{ec.value(), "session write: " + ec.message()});
            self->open_ = false;
            return;
        }
        if (self->pending_.size() < kResumeReadingBelow) self->read_more();
        self->flush();
    });
}

void Session::close() {
    if (!open_ || closing_) return;
    closing_ = true;
    handlers_ = {};
    flush();
}

void Session::fail(const Error& error) {
    if (!open_) return;
    open_ = false;
    transport_->close();
    auto on_closed = std::move(handlers_.on_closed);
    handlers_ = {};
    if (on_closed) on_closed(error);
}

}  // namespace mrd::wire
