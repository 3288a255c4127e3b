// Mirroring as mirrord does it: HTTP/1 request by request. Each request the peer sends (that the
// client's HTTP filter matches, if it has one) goes to the client as a copy of its own, which the
// client delivers on a connection of its own to the local program and whose response it drops; so
// a local server that closes after each response (HTTP/1.0, Werkzeug) still sees every request of
// a kept-alive connection. Traffic that is not HTTP/1 (HTTP/2, a protocol switch, anything else)
// is copied byte for byte instead, when no filter applies, and not at all when one does.
#pragma once

#include "agent/http_filter.hpp"
#include "agent/incoming.hpp"
#include "agent/mirror_tap.hpp"
#include "http/http1.hpp"

namespace mrd::agent {

class HttpMirrorTap : public Tap {
public:
    // filter: the client's HTTP filter for this port; an empty matcher mirrors every request.
    HttpMirrorTap(asio::io_context& io, std::shared_ptr<IncomingSink> sink, uint16_t port, asio::ip::tcp::endpoint peer,
                  asio::ip::tcp::endpoint local, HttpMatcher filter);

    void copy(const char* data, size_t n) override;
    void eof() override;
    void finish() override;
    void close(int code) override;

private:
    enum class Mode { detecting, http, raw, off };
    void feed(const char* data, size_t n);
    void to_raw(const char* more, size_t n);  // byte for byte from here on, or nothing when filtered
    void dispatch();

    asio::io_context& io_;
    std::weak_ptr<IncomingSink> sink_;
    uint16_t port_;
    asio::ip::tcp::endpoint peer_, local_;
    HttpMatcher filter_;
    Mode mode_ = Mode::detecting;
    http::Http1Parser parser_{http::Http1Parser::Kind::request};
    std::vector<char> detected_;  // the first bytes, until they tell HTTP/1 from HTTP/2
    std::vector<char> request_;   // the current request's bytes
    bool oversized_ = false;
    uint64_t conn_ = 0, sequence_ = 0;
    std::shared_ptr<MirrorTap> raw_;
};

}  // namespace mrd::agent
