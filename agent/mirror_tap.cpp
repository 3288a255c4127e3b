#include "agent/mirror_tap.hpp"

#include "agent/incoming.hpp"

#include "wire/address.hpp"

namespace mrd::agent {

using namespace mrd::wire;
using asio::ip::tcp;

MirrorTap::MirrorTap(asio::io_context& io, std::shared_ptr<IncomingSink> sink, uint64_t conn)
    : sink_(sink), outbox_(sink->outbox()), conn_(conn), linger_(io) {}

std::shared_ptr<MirrorTap> MirrorTap::open(asio::io_context& io, const std::shared_ptr<IncomingSink>& sink, uint16_t port,
                                           const tcp::endpoint& peer, const tcp::endpoint& local) {
    auto tap = std::make_shared<MirrorTap>(io, sink, sink->new_incoming_id());
    sink->connections().add(tap->conn_, tap);
    if (auto out = tap->outbox_.lock()) out->send(0, IncomingConnection{tap->conn_, port, from_endpoint(peer), from_endpoint(local), true});
    return tap;
}

void MirrorTap::copy(const char* data, size_t n) {
    if (closed_ || n == 0) return;
    if (n > credit_) return close(ENOBUFS);
    credit_ -= n;
    if (auto out = outbox_.lock()) out->send(0, Data{conn_, Bytes(data, data + n)});
}

void MirrorTap::eof() {
    if (closed_ || eof_sent_) return;
    eof_sent_ = true;
    if (auto out = outbox_.lock()) out->send(0, Eof{conn_});
}

void MirrorTap::finish() {
    eof();
    if (closed_) return;
    linger_.expires_after(std::chrono::seconds(10));
    linger_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->close(0);
    });
}

void MirrorTap::close(int code) {
    if (closed_) return;
    if (auto out = outbox_.lock()) out->send(0, Close{conn_, code});
    release();
}

void MirrorTap::on_eof() {
    if (eof_sent_) release();  // both sides done
}

void MirrorTap::release() {
    if (closed_) return;
    closed_ = true;
    linger_.cancel();
    if (auto sink = sink_.lock()) sink->connections().remove(conn_);
}

}  // namespace mrd::agent
