#include "wire/transport.hpp"

namespace mrd::wire {

namespace {

class PlainTransport : public Transport {
public:
    explicit PlainTransport(Socket socket) : socket_(std::move(socket)) {}
    void read_some(asio::mutable_buffer buffer, Handler done) override { socket_.async_read_some(buffer, std::move(done)); }
    void write_all(asio::const_buffer buffer, Handler done) override { asio::async_write(socket_, buffer, std::move(done)); }
    void close() override {
        std::error_code ignored;
        socket_.shutdown(asio::socket_base::shutdown_both, ignored);
        socket_.close(ignored);
    }

private:
    Socket socket_;
};

class TlsTransport : public Transport {
public:
    TlsTransport(std::unique_ptr<asio::ssl::stream<Socket>> stream, std::shared_ptr<asio::ssl::context> context)
        : context_(std::move(context)), stream_(std::move(stream)) {}
    void read_some(asio::mutable_buffer buffer, Handler done) override { stream_->async_read_some(buffer, std::move(done)); }
    void write_all(asio::const_buffer buffer, Handler done) override { asio::async_write(*stream_, buffer, std::move(done)); }
    void close() override {
        std::error_code ignored;
        stream_->lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
        stream_->lowest_layer().close(ignored);
    }

private:
    std::shared_ptr<asio::ssl::context> context_;  // outlives the stream
    std::unique_ptr<asio::ssl::stream<Socket>> stream_;
};

}  // namespace

std::unique_ptr<Transport> plain_transport(Transport::Socket socket) { return std::make_unique<PlainTransport>(std::move(socket)); }

co::Task<Result<std::unique_ptr<Transport>>> tls_transport(Transport::Socket socket, std::shared_ptr<asio::ssl::context> context,
                                                           bool server, std::chrono::milliseconds timeout) {
    auto executor = socket.get_executor();
    auto stream = std::make_unique<asio::ssl::stream<Transport::Socket>>(std::move(socket), *context);
    co::Promise<std::error_code> done;
    asio::steady_timer timer(executor, timeout);
    bool timed_out = false;
    timer.async_wait([&timed_out, s = stream.get()](std::error_code ec) {
        if (ec) return;
        timed_out = true;
        std::error_code ignored;
        s->lowest_layer().close(ignored);  // the handshake then completes, with an error
    });
    stream->async_handshake(server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                            [done](std::error_code ec) { done.set(ec); });
    std::error_code ec = co_await done.wait();
    timer.cancel();
    if (timed_out) ec = asio::error::timed_out;
    if (ec) {
        std::error_code ignored;
        stream->lowest_layer().close(ignored);
        co_return Error{ec.value() ? ec.value() : EPROTO, "TLS handshake: " + ec.message()};
    }
    // The pin was checked during the handshake; say it again here, in case a context without one slipped in.
    if (peer_fingerprint(stream->native_handle()).empty()) co_return Error::msg("TLS handshake: the peer showed no certificate", EACCES);
    co_return std::unique_ptr<Transport>(std::make_unique<TlsTransport>(std::move(stream), std::move(context)));
}

}  // namespace mrd::wire
