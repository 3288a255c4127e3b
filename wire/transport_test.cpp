#include "wire/session.hpp"
#include "wire/transport.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace mrd;
using namespace mrd::wire;

namespace {

struct Pair {
    asio::io_context io;
    Transport::Socket a{io}, b{io};
    Pair() {
        asio::local::stream_protocol::socket x(io), y(io);
        asio::local::connect_pair(x, y);
        a = Transport::Socket(std::move(x));
        b = Transport::Socket(std::move(y));
    }
};

// Both handshakes, each side pinning the fingerprint it is given.
std::pair<Result<std::unique_ptr<Transport>>, Result<std::unique_ptr<Transport>>> handshake(
    Pair& p, const TlsIdentity& server, const std::string& server_pins, const TlsIdentity& client, const std::string& client_pins) {
    std::optional<Result<std::unique_ptr<Transport>>> s, c;
    auto sctx = pinned_tls_context(server, server_pins, true).value();
    auto cctx = pinned_tls_context(client, client_pins, false).value();
    co::spawn([](Pair& p, auto ctx, auto& out) -> co::Task<void> {
        out.emplace(co_await tls_transport(std::move(p.a), ctx, true, std::chrono::seconds(5)));
    }(p, sctx, s));
    co::spawn([](Pair& p, auto ctx, auto& out) -> co::Task<void> {
        out.emplace(co_await tls_transport(std::move(p.b), ctx, false, std::chrono::seconds(5)));
    }(p, cctx, c));
    p.io.run();
    return {std::move(*s), std::move(*c)};
}

// Both ends of a link whose handshake succeeded: the agent's, the session's.
std::pair<std::unique_ptr<Transport>, std::unique_ptr<Transport>> tls_link(Pair& p) {
    auto agent = TlsIdentity::generate("agent").value(), cli = TlsIdentity::generate("cli").value();
    auto [server, client] = handshake(p, agent, cli.fingerprint, cli, agent.fingerprint);
    REQUIRE(server.ok());
    REQUIRE(client.ok());
    p.io.restart();
    return {std::move(*server), std::move(*client)};
}

}  // namespace

TEST_CASE("tls: identities are fresh and fingerprinted") {
    auto a = TlsIdentity::generate("a").value(), b = TlsIdentity::generate("a").value();
    CHECK(a.fingerprint.size() == 64);
    CHECK(a.fingerprint != b.fingerprint);
    CHECK(a.key_pem.find("PRIVATE KEY") != std::string::npos);
}

TEST_CASE("tls: both pins right, a session runs over it") {
    Pair p;
    auto [server, client] = tls_link(p);
    std::vector<Message> got;
    auto a = Session::create(std::move(server), {[&](Envelope&& e) { got.push_back(std::move(e.message)); }, {}});
    auto b = Session::create(std::move(client), {});
    a->start();
    b->start();
    b->send(1, Hello{kProtocolVersion, "over tls"});
    while (got.empty() && p.io.run_one()) {}
    REQUIRE(got.size() == 1);
    CHECK(std::get<Hello>(got[0]).client == "over tls");

    // Open files are not passed over TLS: the peer finds none.
    CHECK_FALSE(b->passes_fds());
    FileOpened opened{0, {}, false, true};
    opened.fd = std::make_shared<UniqueFd>(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    b->send(2, opened);
    while (got.size() < 2 && p.io.run_one()) {}
    REQUIRE(got.size() == 2);
    auto& back = std::get<FileOpened>(got[1]);
    REQUIRE(back.fd);
    CHECK_FALSE(back.fd->ok());
}

TEST_CASE("tls: large messages both ways, many at once, and a farewell read by end_now") {
    Pair p;
    auto [server, client] = tls_link(p);
    std::vector<Message> at_a, at_b;
    auto a = Session::create(std::move(server), {[&](Envelope&& e) { at_a.push_back(std::move(e.message)); }, {}});
    auto b = Session::create(std::move(client), {[&](Envelope&& e) { at_b.push_back(std::move(e.message)); }, {}});
    a->start();
    b->start();
    // Several records' worth and more than one read's, and small ones between them.
    Bytes big(3 << 20);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
    for (uint64_t i = 0; i < 4; ++i) {
        a->send(0, Data{i, big});
        b->send(0, Data{i, big});
        a->send(0, Eof{i});
    }
    while ((at_a.size() < 4 || at_b.size() < 8) && p.io.run_one()) {}
    REQUIRE(at_a.size() == 4);
    REQUIRE(at_b.size() == 8);
    for (uint64_t i = 0; i < 4; ++i) {
        CHECK(std::get<Data>(at_a[i]).bytes == big);
        CHECK(std::get<Data>(at_b[2 * i]).bytes == big);
        CHECK(std::get<Eof>(at_b[2 * i + 1]).conn == i);
    }
    // What already arrived is read without the event loop, decrypted (a resumed link's end_now).
    // (the write is tried at once, as Asio does when none is queued; b's end_now then closes it.)
    while (p.io.poll() > 0) {}  // nothing in flight; a's read waits
    b->send(0, ErrorReply{EPROTO, "going"});
    b->end_now();
    CHECK(a->end_now().message == "the other end closed the link: going");
}

TEST_CASE("tls: a client without the session's key is refused in the handshake") {
    auto agent = TlsIdentity::generate("agent").value(), cli = TlsIdentity::generate("cli").value();
    auto intruder = TlsIdentity::generate("cli").value();
    Pair p;
    auto [server, client] = handshake(p, agent, cli.fingerprint, intruder, agent.fingerprint);
    CHECK_FALSE(server.ok());
    // In TLS 1.3 the client's handshake ends before the server has judged its certificate: it then
    // learns the verdict on its first read.
    if (client.ok()) {
        p.io.restart();
        std::optional<Error> closed;
        auto session = Session::create(std::move(*client), {{}, [&](const Error& e) { closed = e; }});
        session->start();
        session->send(1, Hello{kProtocolVersion, "intruder"});
        while (!closed && p.io.run_one()) {}
        CHECK(closed.has_value());
    }
}

TEST_CASE("tls: an agent that is not the announced one is refused by the client") {
    auto agent = TlsIdentity::generate("agent").value(), cli = TlsIdentity::generate("cli").value();
    auto impostor = TlsIdentity::generate("agent").value();
    Pair p;
    auto [server, client] = handshake(p, impostor, cli.fingerprint, cli, agent.fingerprint);
    CHECK_FALSE(client.ok());
    CHECK_FALSE(server.ok());
}

TEST_CASE("tls: a peer that never handshakes is dropped after the timeout") {
    auto agent = TlsIdentity::generate("agent").value(), cli = TlsIdentity::generate("cli").value();
    Pair p;
    std::optional<Result<std::unique_ptr<Transport>>> s;
    co::spawn([](Pair& p, auto ctx, auto& out) -> co::Task<void> {
        out.emplace(co_await tls_transport(std::move(p.a), ctx, true, std::chrono::milliseconds(200)));
    }(p, pinned_tls_context(agent, cli.fingerprint, true).value(), s));
    p.io.run();
    REQUIRE(s.has_value());
    CHECK_FALSE(s->ok());
    CHECK(s->error().message.find("TLS handshake") != std::string::npos);
}

namespace {

// Moves what is pending in `from`'s output BIO into `to`'s input, recording it.
void pump(BIO* from, BIO* to, std::string* record) {
    char buffer[16384];
    for (int n; (n = BIO_read(from, buffer, sizeof buffer)) > 0;) {
        BIO_write(to, buffer, n);
        if (record) record->append(buffer, static_cast<size_t>(n));
    }
}

}  // namespace

TEST_CASE("tls: a recorded session replayed to the agent does not get in") {
    auto agent = TlsIdentity::generate("agent").value(), cli = TlsIdentity::generate("cli").value();
    auto server_ctx = pinned_tls_context(agent, cli.fingerprint, true).value();
    auto client_ctx = pinned_tls_context(cli, agent.fingerprint, false).value();
    auto endpoint = [](asio::ssl::context& ctx, bool server) {
        SSL* ssl = SSL_new(ctx.native_handle());
        BIO* in = BIO_new(BIO_s_mem());
        BIO* out = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl, in, out);
        server ? SSL_set_accept_state(ssl) : SSL_set_connect_state(ssl);
        return ssl;
    };
    // A genuine session, its client's bytes recorded on the way.
    SSL* server = endpoint(*server_ctx, true);
    SSL* client = endpoint(*client_ctx, false);
    std::string recorded;
    for (int i = 0; i < 10 && !(SSL_is_init_finished(server) && SSL_is_init_finished(client)); ++i) {
        SSL_do_handshake(client);
        pump(SSL_get_wbio(client), SSL_get_rbio(server), &recorded);
        SSL_do_handshake(server);
        pump(SSL_get_wbio(server), SSL_get_rbio(client), nullptr);
    }
    REQUIRE(SSL_is_init_finished(server));
    const char request[] = "a request";
    SSL_write(client, request, sizeof request);
    pump(SSL_get_wbio(client), SSL_get_rbio(server), &recorded);
    char got[64];
    CHECK(SSL_read(server, got, sizeof got) == sizeof request);
    // The same bytes to a fresh connection: its handshake never completes, nothing is read.
    SSL* replayed = endpoint(*server_ctx, true);
    BIO_write(SSL_get_rbio(replayed), recorded.data(), static_cast<int>(recorded.size()));
    CHECK(SSL_do_handshake(replayed) != 1);
    CHECK(SSL_read(replayed, got, sizeof got) <= 0);
    SSL_free(server);
    SSL_free(client);
    SSL_free(replayed);
}

TEST_CASE("unix link: a passed file rides with its FileOpened, in order, among other messages") {
    Pair p;
    std::vector<Message> got;
    auto a = Session::create(std::move(p.a), {[&](Envelope&& e) { got.push_back(std::move(e.message)); }, {}});
    auto b = Session::create(std::move(p.b), {});
    CHECK(a->passes_fds());
    a->start();
    b->start();
    auto passed_file = [](const std::string& content) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        REQUIRE(::write(fds[1], content.data(), content.size()) == static_cast<ssize_t>(content.size()));
        ::close(fds[1]);
        FileOpened opened{0, {}, false, true};
        opened.fd = std::make_shared<UniqueFd>(fds[0]);
        return opened;
    };
    b->send(1, passed_file("first"));
    b->send(2, Pong{});
    b->send(3, FileOpened{7, {}, false, false});
    b->send(4, passed_file("second"));
    while (got.size() < 4 && p.io.run_one()) {}
    REQUIRE(got.size() == 4);
    auto content = [](const Message& m) {
        auto& opened = std::get<FileOpened>(m);
        REQUIRE(opened.fd);
        REQUIRE(opened.fd->ok());
        char buffer[16] = {};
        ssize_t n = ::read(opened.fd->get(), buffer, sizeof buffer);
        return std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0);
    };
    CHECK(content(got[0]) == "first");
    CHECK_FALSE(std::get<FileOpened>(got[2]).fd);  // nothing passed: no file
    CHECK(content(got[3]) == "second");
}

TEST_CASE("a link replaced before its end was read still tells how it ended") {
    auto ended_with = [](const std::function<void(int fd)>& peer_does) {
        Pair p;
        bool closed_called = false;
        auto a = Session::create(std::move(p.a), {{}, [&](const Error&) { closed_called = true; }});
        a->start();
        p.io.poll();  // its read is pending
        peer_does(p.b.native_handle());
        Error how = a->end_now();  // before the event loop saw any of it
        p.io.poll();
        CHECK_FALSE(closed_called);
        CHECK_FALSE(a->is_open());
        return how.message;
    };
    SECTION("a frame cut short") {
        CHECK(ended_with([](int fd) {
                  auto frame = encode(Envelope{1, Pong{}});
                  REQUIRE(::write(fd, frame.data(), frame.size() - 1) > 0);
                  ::shutdown(fd, SHUT_WR);
              }) == "the link closed in the middle of a message");
    }
    SECTION("the peer's farewell") {
        CHECK(ended_with([](int fd) {
                  auto frame = encode(Envelope{0, ErrorReply{EPROTO, "it could not read a message"}});
                  REQUIRE(::write(fd, frame.data(), frame.size()) > 0);
                  ::shutdown(fd, SHUT_WR);
              }) == "the other end closed the link: it could not read a message");
    }
    SECTION("an orderly close") {
        CHECK(ended_with([](int fd) { ::shutdown(fd, SHUT_WR); }).empty());
    }
    SECTION("nothing yet: a half-open link") {
        CHECK(ended_with([](int) {}) == "its end was not seen on it");
    }
}
