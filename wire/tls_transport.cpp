// TLS 1.3 over the link's socket. OpenSSL encrypts into and decrypts from memory buffers, which the
// socket fills and drains in large reads and writes: asio's ssl::stream moves one record (at most
// 16 KB) per system call, which cost a bulk transfer over the link nearly half its speed.
#include "wire/transport.hpp"

#include "base/async.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

namespace mrd::wire {

namespace {

constexpr size_t kCipherRead = 256 * 1024;  // ciphertext taken from the socket at once

// What the transport's operations share: they may complete after the transport is gone.
struct TlsState {
    TlsState(Transport::Socket s, std::shared_ptr<asio::ssl::context> c)
        : socket(std::move(s)), context(std::move(c)), ssl(SSL_new(context->native_handle())), cipher_in(kCipherRead) {
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, in, out);  // owned by ssl from here
    }
    ~TlsState() { SSL_free(ssl); }
    TlsState(const TlsState&) = delete;
    TlsState& operator=(const TlsState&) = delete;

    Transport::Socket socket;
    std::shared_ptr<asio::ssl::context> context;  // outlives ssl
    SSL* ssl;
    BIO* in = nullptr;   // ciphertext read, not yet decrypted
    BIO* out = nullptr;  // ciphertext made, not yet taken for writing
    std::vector<char> cipher_in;
    std::vector<char> sending;  // ciphertext being written (one write at a time: the session's)
    std::error_code read_failed;  // met after some plaintext was returned: reported next time

    // Why an OpenSSL call failed, as an error code whose message is OpenSSL's reason.
    std::error_code ssl_error(int r) {
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
        if (unsigned long code = ERR_get_error()) return {static_cast<int>(code), asio::error::get_ssl_category()};
        if (e == SSL_ERROR_SYSCALL) return asio::ssl::error::stream_truncated;
        return {EPROTO, asio::error::get_system_category()};
    }

    void take_ciphertext(size_t n) { BIO_write(in, cipher_in.data(), static_cast<int>(n)); }

    // As much plaintext as fits, from what has been read; would_block when a record is still incomplete.
    size_t decrypt(asio::mutable_buffer buffer, std::error_code& ec) {
        ec = std::exchange(read_failed, {});
        if (ec) return 0;
        size_t total = 0;
        while (total < buffer.size()) {
            size_t n = 0;
            ERR_clear_error();
            int r = SSL_read_ex(ssl, static_cast<char*>(buffer.data()) + total, buffer.size() - total, &n);
            if (r == 1) {
                total += n;
                continue;
            }
            if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) {
                if (total == 0) ec = asio::error::would_block;
                break;
            }
            (total ? read_failed : ec) = ssl_error(r);
            break;
        }
        return total;
    }

    // Takes the ciphertext waiting in `out` into `sending`.
    bool take_output() {
        size_t pending = BIO_ctrl_pending(out);
        if (pending == 0) return false;
        sending.resize(pending);
        BIO_read(out, sending.data(), static_cast<int>(pending));
        return true;
    }
};

// Ciphertext from the socket into `in`. (After a read that emptied the socket, Asio waits for
// readiness before the next instead of trying it at once.)
void read_ciphertext(const std::shared_ptr<TlsState>& s, std::function<void(std::error_code)> then) {
    s->socket.async_read_some(asio::buffer(s->cipher_in), [s, then = std::move(then)](std::error_code ec, size_t n) {
        if (!ec) s->take_ciphertext(n);
        then(ec);
    });
}

void read_plaintext(const std::shared_ptr<TlsState>& s, asio::mutable_buffer buffer, Transport::Handler done, bool posted) {
    std::error_code ec;
    size_t n = s->decrypt(buffer, ec);
    // (Anything reading made OpenSSL say, which no peer of ours asks for, goes with the next write.)
    if (ec != asio::error::would_block) {
        if (!posted) return done(ec, n);
        return asio::post(s->socket.get_executor(), [done = std::move(done), ec, n] { done(ec, n); });
    }
    read_ciphertext(s, [s, buffer, done = std::move(done)](std::error_code ec) mutable {
        if (ec) return done(ec, 0);
        read_plaintext(s, buffer, std::move(done), false);
    });
}

class TlsTransport : public Transport {
public:
    explicit TlsTransport(std::shared_ptr<TlsState> state) : s_(std::move(state)) {}
    ~TlsTransport() override { close(); }  // operations still pending complete, aborted, and let go of the state

    void read_some(asio::mutable_buffer buffer, Handler done) override { read_plaintext(s_, buffer, std::move(done), true); }

    // The handler rides with the write itself, never in the shared state: a session whose write
    // is pending when the event loop ends is freed with the loop's operations.
    void write_all(asio::const_buffer buffer, Handler done) override {
        ERR_clear_error();
        size_t written = 0;
        // A memory buffer takes everything: one call encrypts it all.
        if (buffer.size() > 0) {
            int r = SSL_write_ex(s_->ssl, buffer.data(), buffer.size(), &written);
            if (r != 1) {
                auto ec = s_->ssl_error(r);
                return asio::post(s_->socket.get_executor(), [done = std::move(done), ec] { done(ec, 0); });
            }
        }
        if (!s_->take_output())
            return asio::post(s_->socket.get_executor(), [done = std::move(done), n = buffer.size()] { done({}, n); });
        asio::async_write(s_->socket, asio::buffer(s_->sending),
                          [s = s_, done = std::move(done), n = buffer.size()](std::error_code ec, size_t) {
                              s->sending.clear();
                              done(ec, ec ? 0 : n);
                          });
    }

    void close() override {
        std::error_code ignored;
        s_->socket.shutdown(asio::socket_base::shutdown_both, ignored);
        s_->socket.close(ignored);
    }

    size_t read_ready(asio::mutable_buffer buffer, std::error_code& ec) override {
        for (;;) {
            size_t n = s_->decrypt(buffer, ec);
            if (ec != asio::error::would_block) return n;
            ssize_t got = ::recv(s_->socket.native_handle(), s_->cipher_in.data(), s_->cipher_in.size(), MSG_DONTWAIT);
            if (got <= 0) {
                ec = got == 0 ? asio::error::eof : std::error_code(errno, asio::error::get_system_category());
                return 0;
            }
            s_->take_ciphertext(static_cast<size_t>(got));
        }
    }

private:
    std::shared_ptr<TlsState> s_;
};

}  // namespace

co::Task<Result<std::unique_ptr<Transport>>> tls_transport(Transport::Socket socket, std::shared_ptr<asio::ssl::context> context,
                                                           bool server, std::chrono::milliseconds timeout) {
    auto s = std::make_shared<TlsState>(std::move(socket), std::move(context));
    if (server) {
        SSL_set_accept_state(s->ssl);
        SSL_set_num_tickets(s->ssl, 0);  // sessions are never resumed: a new link handshakes in full
    } else {
        SSL_set_connect_state(s->ssl);
    }
    asio::steady_timer timer(s->socket.get_executor(), timeout);
    bool timed_out = false;
    timer.async_wait([&timed_out, s](std::error_code ec) {
        if (ec) return;
        timed_out = true;
        std::error_code ignored;
        s->socket.close(ignored);  // the handshake's read or write then fails
    });
    std::error_code ec;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(s->ssl);
        if (r != 1 && SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ) ec = s->ssl_error(r);
        // What the handshake has to say goes out first, a refusal's alert too.
        if (s->take_output()) {
            auto w = co_await co::write_all(s->socket, asio::buffer(s->sending));
            if (!ec) ec = w.error;
        }
        if (r == 1 || ec) break;
        auto got = co_await co::read_some(s->socket, asio::buffer(s->cipher_in));
        if (got.error) {
            ec = got.error;
            break;
        }
        s->take_ciphertext(got.bytes);
    }
    timer.cancel();
    if (timed_out) ec = asio::error::timed_out;
    if (ec) {
        std::error_code ignored;
        s->socket.close(ignored);
        co_return Error{ec.value() ? ec.value() : EPROTO, "TLS handshake: " + ec.message()};
    }
    // The pin was checked during the handshake; say it again here, in case a context without one slipped in.
    if (peer_fingerprint(s->ssl).empty()) co_return Error::msg("TLS handshake: the peer showed no certificate", EACCES);
    s->sending.clear();
    co_return std::unique_ptr<Transport>(std::make_unique<TlsTransport>(std::move(s)));
}

}  // namespace mrd::wire
