#include "http/http1.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace mrd::http;

namespace {

// Feeds text in pieces of `chunk` bytes; returns the byte offsets where heads and messages ended.
std::vector<std::string> events(Http1Parser& p, const std::string& text, size_t chunk) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t n = std::min(chunk, text.size() - pos);
        auto step = p.feed(text.data() + pos, n);
        REQUIRE_FALSE(step.error);
        pos += step.consumed;
        if (step.headers_done) out.push_back("head@" + std::to_string(pos) + " " + p.head().method + " " + p.head().target);
        if (step.message_done) {
            out.push_back("done@" + std::to_string(pos));
            p.next_message();
        }
    }
    return out;
}

}  // namespace

TEST_CASE("http1: pipelined requests split exactly, whatever the chunking") {
    std::string a = "GET /one?x=1 HTTP/1.1\r\nHost: h\r\nX-User: alice\r\n\r\n";
    std::string b = "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    std::string c = "PUT /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    std::string all = a + b + c;
    std::vector<std::string> want = {
        "head@" + std::to_string(a.size() - 1) + " GET /one?x=1", "done@" + std::to_string(a.size()),
        "head@" + std::to_string(a.size() + b.size() - 6) + " POST /two", "done@" + std::to_string(a.size() + b.size()),
        "head@" + std::to_string(a.size() + b.size() + 50) + " PUT /three", "done@" + std::to_string(all.size())};
    for (size_t chunk : {1, 7, 64, 4096}) {
        Http1Parser p(Http1Parser::Kind::request);
        INFO("chunk " << chunk);
        CHECK(events(p, all, chunk) == want);
    }
    Http1Parser p(Http1Parser::Kind::request);
    p.feed(a.data(), a.size());
    REQUIRE(p.head().headers.size() == 2);
    CHECK(p.head().headers[1] == std::pair<std::string, std::string>{"X-User", "alice"});
}

TEST_CASE("http1: responses: content-length, HEAD, close-delimited, keep-alive") {
    Http1Parser p(Http1Parser::Kind::response);
    std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    auto step = p.feed(r.data(), r.size());
    CHECK(step.headers_done);
    CHECK(p.head().status == 200);
    step = p.feed(r.data() + step.consumed, r.size() - step.consumed);
    CHECK(step.message_done);
    CHECK(p.keep_alive());
    p.next_message();

    p.expect_no_body();
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    step = p.feed(head.data(), head.size());
    CHECK(step.headers_done);
    step = p.feed(head.data() + step.consumed, head.size() - step.consumed);
    CHECK(step.message_done);

    Http1Parser old(Http1Parser::Kind::response);
    std::string body = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
    step = old.feed(body.data(), body.size());
    step = old.feed(body.data() + step.consumed, body.size() - step.consumed);
    CHECK_FALSE(step.message_done);
    CHECK(old.finish().message_done);
    CHECK_FALSE(old.keep_alive());
}

TEST_CASE("http1: not HTTP at all is an error") {
    Http1Parser p(Http1Parser::Kind::request);
    std::string tls = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    CHECK(p.feed(tls.data(), tls.size()).error);
    Http1Parser q(Http1Parser::Kind::request);
    std::string up = "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
    auto step = q.feed(up.data(), up.size());
    CHECK(step.message_done);
    CHECK(q.upgrade());
    CHECK(step.consumed == up.size() - 7);  // what follows the head is the new protocol's
}
