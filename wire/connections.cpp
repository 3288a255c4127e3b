#include "wire/connections.hpp"

#include "base/log.hpp"

namespace mrd::wire {

std::shared_ptr<Endpoint> ConnectionTable::find(uint64_t conn) const {
    auto it = endpoints_.find(conn);
    return it == endpoints_.end() ? nullptr : it->second;
}

bool ConnectionTable::route(Message& message) {
    auto deliver = [&](uint64_t conn, auto&& action) {
        if (auto endpoint = find(conn)) action(*endpoint);
        return true;  // a message for a connection already gone is dropped: it raced its close
    };
    if (auto* m = std::get_if<Data>(&message))
        return deliver(m->conn, [&](Endpoint& e) { e.on_data(std::move(m->bytes)); });
    if (auto* m = std::get_if<WindowUpdate>(&message))
        return deliver(m->conn, [&](Endpoint& e) { e.on_window(m->bytes); });
    if (auto* m = std::get_if<Eof>(&message)) return deliver(m->conn, [&](Endpoint& e) { e.on_eof(); });
    if (auto* m = std::get_if<Close>(&message))
        return deliver(m->conn, [&](Endpoint& e) { e.on_close(m->code); });
    return false;
}

void ConnectionTable::close_all(int code) {
    auto endpoints = std::move(endpoints_);
    endpoints_.clear();
    for (auto& [conn, endpoint] : endpoints) endpoint->on_close(code);
}

StreamBridge::StreamBridge(uint64_t conn, std::weak_ptr<Outbox> outbox, ConnectionTable& table)
    : conn_(conn), outbox_(std::move(outbox)), table_(table), read_buffer_(64 * 1024) {}

void StreamBridge::attach(asio::ip::tcp::socket socket) {
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    attach_stream(std::move(socket));
}

void StreamBridge::attach(asio::local::stream_protocol::socket socket) { attach_stream(std::move(socket)); }

void StreamBridge::attach_stream(asio::generic::stream_protocol::socket socket) {
    if (released_) return;
    socket_.emplace(std::move(socket));
    read_more();
    write_more();
}

void StreamBridge::send(Message message) {
    if (auto outbox = outbox_.lock()) outbox->send(0, std::move(message));
}

void StreamBridge::read_more() {
    if (!socket_ || reading_ || sent_eof_ || released_ || send_credit_ == 0) return;
    reading_ = true;
    size_t want = std::min<uint64_t>(send_credit_, read_buffer_.size());
    socket_->async_read_some(asio::buffer(read_buffer_.data(), want),
                             [self = shared_from_this()](std::error_code ec, size_t n) {
                                 self->reading_ = false;
                                 if (self->released_) return;
                                 if (ec == asio::error::eof) {
                                     self->sent_eof_ = true;
                                     self->send(Eof{self->conn_});
                                     self->finish_if_done();
                                     return;
                                 }
                                 if (ec) return self->abort(ec.value());
                                 self->send_credit_ -= n;
                                 self->send(Data{self->conn_, bytes_of(self->read_buffer_.data(), n)});
                                 self->read_more();
                             });
}

void StreamBridge::write_more() {
    if (!socket_ || writing_ || released_) return;
    if (write_queue_.empty()) {
        if (peer_eof_) {
            std::error_code ignored;
            socket_->shutdown(asio::socket_base::shutdown_send, ignored);
            finish_if_done();
        }
        return;
    }
    writing_ = true;
    asio::async_write(*socket_, asio::buffer(write_queue_.front()),
                      [self = shared_from_this()](std::error_code ec, size_t n) {
                          self->writing_ = false;
                          if (self->released_) return;
                          if (ec) return self->abort(ec.value());
                          self->write_queue_.pop_front();
                          self->acknowledge(n);
                          self->write_more();
                      });
}

void StreamBridge::acknowledge(size_t written) {
    // Credit goes back a quarter of the window at a time: an update per write would wake the other
    // side once more for every request and answer. The sender, out of credit, has a whole window
    // here, so the quarter always comes.
    unacknowledged_ += written;
    if (unacknowledged_ < kInitialWindow / 4) return;
    send(WindowUpdate{conn_, static_cast<uint32_t>(unacknowledged_)});
    unacknowledged_ = 0;
}

void StreamBridge::on_data(Bytes bytes) {
    if (released_ || bytes.empty()) return;
    write_queue_.push_back(std::move(bytes));
    write_more();
}

void StreamBridge::on_window(uint32_t bytes) {
    send_credit_ += bytes;
    read_more();
}

void StreamBridge::on_eof() {
    peer_eof_ = true;
    write_more();
}

void StreamBridge::on_close(int code) {
    if (released_) return;
    if (socket_ && code != 0) {
        // Make the local peer see a reset, as it would have seen from the remote one.
        std::error_code ignored;
        socket_->set_option(asio::socket_base::linger(true, 0), ignored);
    }
    release();
}

void StreamBridge::finish_if_done() {
    if (sent_eof_ && peer_eof_ && write_queue_.empty() && !writing_) release();
}

void StreamBridge::abort(int code) {
    if (released_) return;
    send(Close{conn_, code});
    release();
}

void StreamBridge::release() {
    if (released_) return;
    released_ = true;
    if (socket_) {
        std::error_code ignored;
        socket_->close(ignored);
    }
    write_queue_.clear();
    auto self = shared_from_this();  // the table may hold the last reference
    table_.remove(conn_);
    if (auto callback = std::move(on_release_)) callback();
}

}  // namespace mrd::wire
