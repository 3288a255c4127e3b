#include "tracer/gdb/gdb_connection.hpp"

#include "wire/address.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

namespace mrd::tracer::gdb {

Result<std::string> Connection::listen(const std::string& address) {
    auto split = wire::split_host_port(address);
    if (!split) return Error::msg("gdb server address '" + address + "' is not HOST:PORT", EINVAL);
    std::error_code ec;
    auto ip = asio::ip::make_address(split->host.empty() ? "127.0.0.1" : split->host, ec);
    if (ec) return Error::msg("invalid gdb server address '" + address + "'", EINVAL);
    asio::ip::tcp::endpoint endpoint(ip, split->port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(1, ec);
    if (ec) return Error{ec.value(), "gdb server on " + address + ": " + ec.message()};
    return this->address();
}

std::string Connection::address() const {
    std::error_code ec;
    auto bound = acceptor_.local_endpoint(ec);
    return bound.address().to_string() + ":" + std::to_string(bound.port());
}

void Connection::accept() {
    if (std::exchange(accepting_, true)) return;
    co::spawn(accept_loop());
}

void Connection::close() {
    std::error_code ignored;
    acceptor_.close(ignored);
    socket_.close(ignored);
}

void Connection::hang_up() {
    hang_up_ = true;
    if (out_.empty()) {
        std::error_code ignored;
        socket_.close(ignored);
    }
}

co::Task<void> Connection::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await co::accept(acceptor_);
        if (ec) co_return;
        if (connected_) continue;  // one debugger at a time
        socket_ = std::move(socket);
        socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        connected_ = true;
        no_ack_ = hang_up_ = false;
        reader_ = PacketReader();
        log::info("gdb connected");
        handlers_.on_connected();
        co_await read_loop();
        connected_ = false;
        out_.clear();
        log::info("gdb disconnected");
        handlers_.on_disconnected();
    }
}

co::Task<void> Connection::read_loop() {
    std::vector<char> buffer(16384);
    for (;;) {
        auto r = co_await co::read_some(socket_, asio::buffer(buffer));
        if (r.error) co_return;
        reader_.append(buffer.data(), r.bytes);
        while (auto item = reader_.next()) {
            if (item->kind == PacketReader::Item::Kind::interrupt) {
                handlers_.on_interrupt();
            } else if (item->kind == PacketReader::Item::Kind::bad_checksum) {
                if (!no_ack_) send_raw("-");
            } else {
                if (!no_ack_) send_raw("+");
                log::trace("gdb <- ", std::string_view(item->payload).substr(0, 200));
                handlers_.on_packet(item->payload);
            }
        }
        if (!socket_.is_open()) co_return;
    }
}

void Connection::send_packet(const std::string& payload) {
    log::trace("gdb -> ", std::string_view(payload).substr(0, 200));
    send_raw(frame(payload));
}

void Connection::send_raw(std::string bytes) {
    if (!connected_) return;
    out_.push_back(std::move(bytes));
    if (out_.size() > 1) return;  // a write is under way; it takes this one next
    write_next();
}

void Connection::write_next() {
    asio::async_write(socket_, asio::buffer(out_.front()), [this](std::error_code ec, size_t) {
        if (ec) {
            out_.clear();
            return;
        }
        out_.pop_front();
        if (!out_.empty()) return write_next();
        if (hang_up_) {
            std::error_code ignored;
            socket_.close(ignored);
        }
    });
}

}  // namespace mrd::tracer::gdb
