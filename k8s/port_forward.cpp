#include "k8s/port_forward.hpp"

#include "k8s/pem_data.hpp"

#include "base/async.hpp"
#include "base/log.hpp"

#include <asio/ssl.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <deque>

namespace mrd::k8s {

using asio::ip::tcp;

namespace websocket {

std::string client_frame(uint8_t opcode, const std::string& payload) {
    std::string frame;
    frame += static_cast<char>(0x80 | opcode);
    size_t n = payload.size();
    if (n < 126) {
        frame += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
        frame += static_cast<char>(0x80 | 126);
        frame += static_cast<char>(n >> 8);
        frame += static_cast<char>(n & 0xff);
    } else {
        frame += static_cast<char>(0x80 | 127);
        for (int i = 7; i >= 0; --i) frame += static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff);
    }
    unsigned char mask[4];
    RAND_bytes(mask, 4);
    frame.append(reinterpret_cast<char*>(mask), 4);
    size_t start = frame.size();
    frame += payload;
    for (size_t i = 0; i < n; ++i) frame[start + i] = static_cast<char>(frame[start + i] ^ mask[i % 4]);
    return frame;
}

std::optional<Frame> take_frame(std::string& buffer) {
    if (buffer.size() < 2) return std::nullopt;
    auto b = [&](size_t i) { return static_cast<uint8_t>(buffer[i]); };
    Frame f;
    f.fin = b(0) & 0x80;
    f.opcode = b(0) & 0x0f;
    bool masked = b(1) & 0x80;
    uint64_t len = b(1) & 0x7f;
    size_t pos = 2;
    if (len == 126) {
        if (buffer.size() < 4) return std::nullopt;
        len = (uint64_t{b(2)} << 8) | b(3);
        pos = 4;
    } else if (len == 127) {
        if (buffer.size() < 10) return std::nullopt;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | b(2 + static_cast<size_t>(i));
        pos = 10;
    }
    uint8_t mask[4] = {};
    if (masked) {
        if (buffer.size() < pos + 4) return std::nullopt;
        for (int i = 0; i < 4; ++i) mask[i] = b(pos + static_cast<size_t>(i));
        pos += 4;
    }
    if (buffer.size() < pos + len) return std::nullopt;
    f.payload = buffer.substr(pos, len);
    if (masked)
        for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ mask[i % 4]);
    buffer.erase(0, pos + len);
    return f;
}

std::string accept_key(const std::string& key) {
    std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), SHA_DIGEST_LENGTH));
}

}  // namespace websocket

namespace {

using Ssl = asio::ssl::stream<tcp::socket>;

// Through an HTTP proxy: CONNECT, and the tunnel is the connection from here on.
co::Task<Status> tunnel(tcp::socket& socket, const Proxy& proxy, const std::string& host, int port) {
    std::string target = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (!proxy.user.empty()) request += "Proxy-Authorization: Basic " + base64_encode(proxy.user + ":" + proxy.password) + "\r\n";
    request += "\r\n";
    auto w = co_await co::write_all(socket, asio::buffer(request));
    if (w.error) co_return Error{w.error.value(), "the proxy: " + w.error.message()};
    std::string response;
    char byte;
    while (response.find("\r\n\r\n") == std::string::npos && response.size() < 8192) {  // nothing past the head
        auto r = co_await co::read_some(socket, asio::buffer(&byte, 1));
        if (r.error) co_return Error{r.error.value(), "the proxy closed the tunnel: " + r.error.message()};
        response += byte;
    }
    if (response.rfind("HTTP/1.", 0) != 0 || response.substr(9, 3) != "200")
        co_return Error::msg("the proxy refused CONNECT " + target + ": " + response.substr(0, response.find("\r\n")), ECONNREFUSED);
    co_return Status{};
}

template <class Stream>
co::Task<Status> upgrade(Stream& stream, ApiClient& api, const std::string& path) {
    unsigned char nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    std::string key = base64_encode(std::string_view(reinterpret_cast<const char*>(nonce), sizeof nonce));
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + api.host() + ":" + std::to_string(api.port()) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n";
    if (std::string token = api.token(); !token.empty()) request += "Authorization: Bearer " + token + "\r\n";
    request += "\r\n";
    auto w = co_await co::write_all(stream, asio::buffer(request));
    if (w.error) co_return Error{w.error.value(), "port-forward: " + w.error.message()};
    std::string head;
    char c;
    while (head.size() < 16384 && (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0)) {
        auto r = co_await co::read_some(stream, asio::buffer(&c, 1));  // byte by byte: the frames follow at once
        if (r.error) co_return Error{r.error.value(), "port-forward: the API server closed the connection"};
        head += c;
    }
    if (head.rfind("HTTP/1.1 101", 0) != 0) {
        std::string status = head.substr(0, head.find("\r\n"));
        int code = status.find(" 401") != std::string::npos ? EKEYREJECTED : status.find(" 403") != std::string::npos ? EACCES : EPROTO;
        co_return Error::msg("port-forward refused by the API server: " + status, code);
    }
    if (head.find(websocket::accept_key(key)) == std::string::npos)
        co_return Error::msg("port-forward: the API server's WebSocket handshake does not match", EPROTO);
    co_return Status{};
}

// Relays local <-> the WebSocket until either side ends; an error the far end reported, if any.
template <class Stream>
co::Task<Status> relay(std::shared_ptr<Stream> stream, tcp::socket& local) {
    auto writer = std::make_shared<co::WriteQueue<Stream>>(stream);
    co::Promise<bool> local_done;
    auto local_to_ws = [](tcp::socket& local, std::shared_ptr<co::WriteQueue<Stream>> writer, co::Promise<bool> done) -> co::Task<void> {
        std::vector<char> buffer(64 * 1024);
        for (;;) {
            auto r = co_await co::read_some(local, asio::buffer(buffer));
            if (r.error) break;
            std::string payload(1, '\0');  // channel 0: data for the first (only) port
            payload.append(buffer.data(), r.bytes);
            writer->send(websocket::client_frame(0x2, payload));
        }
        writer->send(websocket::client_frame(0x8, ""));
        done.set(true);
    };
    co::spawn(local_to_ws(local, writer, local_done));
    std::string buffer, message;
    std::vector<char> chunk(64 * 1024);
    bool seen_port[2] = {false, false};
    Status outcome;
    for (bool open = true; open;) {
        auto r = co_await co::read_some(*stream, asio::buffer(chunk));
        if (r.error) break;
        buffer.append(chunk.data(), r.bytes);
        while (auto frame = websocket::take_frame(buffer)) {
            if (frame->opcode == 0x8) { open = false; break; }
            if (frame->opcode == 0x9) { writer->send(websocket::client_frame(0xA, frame->payload)); continue; }
            if (frame->opcode == 0xA) continue;
            message += frame->payload;
            if (!frame->fin) continue;
            std::string data = std::move(message);
            message.clear();
            if (data.empty()) continue;
            auto channel = static_cast<uint8_t>(data[0]);
            data.erase(0, 1);
            if (channel > 1) continue;
            if (!seen_port[channel]) {  // the first frame of a channel names the port
                seen_port[channel] = true;
                data.erase(0, std::min<size_t>(2, data.size()));
            }
            if (data.empty()) continue;
            if (channel == 1) {
                outcome = Error::msg("port-forward to the agent: " + data, ECONNREFUSED);
                open = false;
                break;
            }
            auto w = co_await co::write_all(local, asio::buffer(data));
            if (w.error) { open = false; break; }
        }
    }
    std::error_code ignored;
    local.close(ignored);
    co_await local_done.wait();
    co_return outcome;
}

}  // namespace

Result<std::string> PortForward::listen() {
    std::error_code ec;
    tcp::endpoint endpoint(asio::ip::address_v4::loopback(), 0);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(16, ec);
    if (ec) return Error{ec.value(), "port-forward listener: " + ec.message()};
    co::spawn(accept_loop());
    return "tcp:127.0.0.1:" + std::to_string(acceptor_.local_endpoint(ec).port());
}

co::Task<void> PortForward::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await co::accept(acceptor_);
        if (ec) co_return;
        co::spawn(serve(std::move(socket)));
    }
}

void PortForward::stop() {
    std::error_code ignored;
    acceptor_.close(ignored);
    auto live = std::move(live_);
    live_.clear();
    for (auto& [id, close] : live) close();
}

co::Task<void> PortForward::serve(tcp::socket local) {
    uint64_t id = next_id_++;
    live_[id] = [&local] {
        std::error_code ignored;
        local.close(ignored);
    };
    // Quiet: the agent client retries, and says what went wrong (last_error) if it gives up.
    auto st = co_await forward(local, id);
    live_.erase(id);
    if (!st) {
        last_error_ = st.error().message;
        log::debug(last_error_);
        // A token revoked before its expiry: renewed, so the next attempt presents the new one.
        if (st.error().code == EKEYREJECTED && (api_->credentials().exec || api_->credentials().oidc))
            if (auto renewed = api_->refresh(); !renewed) log::debug("refreshing the credentials: ", renewed.error().message);
    }
}

co::Task<Status> PortForward::forward(tcp::socket& local, uint64_t id) {
    std::string path = api_->prefix() + "/api/v1/namespaces/" + pod_.namespace_ + "/pods/" + pod_.pod + "/portforward?ports=" +
                       std::to_string(pod_.port);
    tcp::resolver resolver(io_);
    std::error_code ec;
    const auto& proxy = api_->proxy();
    std::string host = proxy ? proxy->host : api_->host();
    int port = proxy ? proxy->port : api_->port();
    // Resolved without blocking the event loop (the session's other traffic goes on meanwhile).
    co::Promise<std::pair<std::error_code, tcp::resolver::results_type>> resolved;
    resolver.async_resolve(host, std::to_string(port), [resolved](std::error_code e, tcp::resolver::results_type r) {
        resolved.set({e, std::move(r)});
    });
    auto [resolve_error, endpoints] = co_await resolved.wait();
    ec = resolve_error;
    if (ec || endpoints.empty()) co_return Error{ec.value(), "port-forward: cannot resolve " + host + ": " + ec.message()};
    // Shared with the relay's write queue: a write in flight outlives this function.
    auto socket = std::make_shared<tcp::socket>(io_);
    live_[id] = [&local, socket] {
        std::error_code ignored;
        local.close(ignored);
        socket->close(ignored);
    };
    socket->open(endpoints.begin()->endpoint().protocol(), ec);
    if (!ec) ec = co_await co::connect(*socket, endpoints.begin()->endpoint());
    if (ec) co_return Error{ec.value(), std::string("port-forward: cannot reach ") + (proxy ? "the proxy" : "the API server") + ": " + ec.message()};
    socket->set_option(tcp::no_delay(true), ec);
    if (proxy)
        if (auto st = co_await tunnel(*socket, *proxy, api_->host(), api_->port()); !st) co_return st.error().context("port-forward");
    if (!api_->tls()) {
        if (auto st = co_await upgrade(*socket, *api_, path); !st) co_return st;
        last_error_.clear();
        co_return co_await relay(socket, local);
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    const Credentials& c = api_->credentials();
    if (api_->verify_server()) {
        ctx.set_verify_mode(asio::ssl::verify_peer);
        if (!c.ca_pem.empty()) ctx.add_certificate_authority(asio::buffer(c.ca_pem), ec);
        else ctx.set_default_verify_paths(ec);
        if (ec) co_return Error{ec.value(), "port-forward: the kubeconfig's certificate authority: " + ec.message()};
    } else {
        ctx.set_verify_mode(asio::ssl::verify_none);
    }
    if (!c.client_cert_pem.empty()) {
        ctx.use_certificate_chain(asio::buffer(c.client_cert_pem), ec);
        if (!ec) ctx.use_private_key(asio::buffer(c.client_key_pem), asio::ssl::context::pem, ec);
        if (ec) co_return Error{ec.value(), "port-forward: the kubeconfig's client certificate: " + ec.message()};
    }
    auto stream = std::make_shared<Ssl>(std::move(*socket), ctx);
    live_[id] = [&local, stream] {
        std::error_code ignored;
        local.close(ignored);
        stream->lowest_layer().close(ignored);
    };
    SSL_set_tlsext_host_name(stream->native_handle(), api_->tls_name().c_str());
    if (api_->verify_server()) stream->set_verify_callback(asio::ssl::host_name_verification(api_->tls_name()));  // names and IPs
    co::Promise<std::error_code> handshake;
    stream->async_handshake(asio::ssl::stream_base::client, [handshake](std::error_code e) { handshake.set(e); });
    if (auto e = co_await handshake.wait()) co_return Error{e.value(), "port-forward: TLS with the API server failed: " + e.message()};
    if (auto st = co_await upgrade(*stream, *api_, path); !st) co_return st;
    last_error_.clear();
    co_return co_await relay(stream, local);
}

}  // namespace mrd::k8s
