// The agent's server, in process and targetless, driven by a blocking client over a unix socket.
#include "agent/server.hpp"
#include "tests/tools/blocking_client.hpp"
#include "wire/tls_identity.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace mrd;
using namespace mrd::wire;
using mrd::test::BlockingClient;
namespace fs = std::filesystem;

namespace {

struct AgentFixture {
    fs::path dir = fs::temp_directory_path() / ("mrd-agent-test-" + std::to_string(::getpid()));
    std::string address = "unix:" + (dir / "agent.sock").string();
    asio::io_context io;
    asio::thread_pool pool{2};
    agent::Target target = std::move(agent::Target::targetless().value());
    agent::Resolver resolver{target.root_fd()};
    agent::Context ctx{io, pool, target, resolver, "test-host"};
    agent::Server server{io, std::chrono::seconds(0)};
    std::thread thread;

    AgentFixture() {
        fs::create_directories(dir);
        REQUIRE(server.listen(address).ok());
        server.start(ctx);
        thread = std::thread([this] { io.run(); });
    }
    ~AgentFixture() {
        asio::post(io, [this] { server.shutdown("test over"); });
        thread.join();
        pool.join();
        fs::remove_all(dir);
    }
    std::unique_ptr<BlockingClient> greeted_client() {
        auto c = std::make_unique<BlockingClient>(address);
        auto hello = c->request(Hello{kProtocolVersion, "test"});
        REQUIRE(std::holds_alternative<HelloOk>(hello));
        return c;
    }
};

template <class T>
T expect(Message m) {
    if (auto* e = std::get_if<ErrorReply>(&m)) FAIL("error reply: " << e->message);
    REQUIRE(std::holds_alternative<T>(m));
    return std::get<T>(std::move(m));
}

int error_code(const Message& m) {
    auto* e = std::get_if<ErrorReply>(&m);
    return e ? e->code : 0;
}

// A local TCP listener for the agent to connect to.
struct Listener {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;
    Listener() {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        REQUIRE(::listen(fd, 8) == 0);
        socklen_t len = sizeof sa;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
        port = ntohs(sa.sin_port);
    }
    ~Listener() { ::close(fd); }
};

}  // namespace

TEST_CASE("agent: handshake") {
    AgentFixture agent;
    SECTION("hello reports the hostname") {
        BlockingClient c(agent.address);
        auto ok = expect<HelloOk>(c.request(Hello{kProtocolVersion, "test"}));
        CHECK(ok.hostname == "test-host");
        CHECK(ok.target_pid == 0);
    }
    SECTION("another protocol version is refused with a message and the connection closed") {
        BlockingClient c(agent.address);
        auto reply = c.request(Hello{kProtocolVersion + 1, "future"});
        REQUIRE(error_code(reply) == EPROTO);
        CHECK_THAT(std::get<ErrorReply>(reply).message, Catch::Contains("protocol version"));
        CHECK(c.closed_by_peer(2000));
    }
    SECTION("a request before hello is refused") {
        BlockingClient c(agent.address);
        CHECK(error_code(c.request(EnvGet{})) == EPROTO);
    }
    SECTION("garbage closes that client only") {
        BlockingClient bad(agent.address);
        const char junk[] = "\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1";
        bad.send_raw(junk, sizeof junk - 1);
        auto farewell = bad.receive_for(2000);  // the agent says why it closes
        REQUIRE(farewell);
        CHECK(farewell->id == 0);
        REQUIRE(std::holds_alternative<ErrorReply>(farewell->message));
        CHECK(std::get<ErrorReply>(farewell->message).message.find("could not read a message") != std::string::npos);
        CHECK(bad.closed_by_peer(2000));
        auto good = agent.greeted_client();
        CHECK(std::holds_alternative<Pong>(good->request(Ping{})));
    }
    SECTION("an oversized frame closes the client") {
        BlockingClient bad(agent.address);
        const char header[] = "\x7f\xff\xff\xff";
        bad.send_raw(header, 4);
        CHECK(bad.closed_by_peer(2000));
    }
}

TEST_CASE("agent: only sessions keep the agent alive; TCP needs the session's key; [::] serves IPv4 and IPv6") {
    asio::io_context io;
    asio::thread_pool pool{1};
    auto target = std::move(agent::Target::targetless().value());
    agent::Resolver resolver{target.root_fd()};
    agent::Context ctx{io, pool, target, resolver, "test-host"};
    agent::Server server{io, std::chrono::seconds(1)};
    CHECK_FALSE(server.listen("tcp:127.0.0.1:0").ok());  // no TCP without authentication
    auto self = wire::TlsIdentity::generate("agent").value(), session = wire::TlsIdentity::generate("cli").value();
    REQUIRE(server.authenticate_with(self, session.fingerprint).ok());
    CHECK_FALSE(server.listen("tcp:[::]:0").ok());  // beyond loopback: only when asked for
    server.allow_beyond_loopback();
    REQUIRE(server.listen("tcp:[::]:0").ok());
    std::string address = server.addresses().at(0);
    std::string port = address.substr(address.rfind(':') + 1);
    fs::path dir = fs::temp_directory_path() / ("mrd-idle-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    REQUIRE(server.listen("unix:" + (dir / "a.sock").string()).ok());
    server.start(ctx);
    std::atomic<bool> stopped{false};
    std::thread thread([&] {
        io.run();
        stopped = true;
    });
    {
        BlockingClient v4("tcp:127.0.0.1:" + port), v6("tcp:[::1]:" + port);  // both reach it
        // Plain bytes on TCP are no session: the agent waits for a TLS handshake, then drops them.
        v4.send_raw("\x00\x00\x00\x01\x90", 5);
        CHECK(v4.closed_by_peer(15000));
        BlockingClient local("unix:" + (dir / "a.sock").string());  // the same uid: accepted
        CHECK(std::holds_alternative<HelloOk>(local.request(Hello{kProtocolVersion, "unix"})));
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        CHECK_FALSE(stopped);  // a session is open: no idle timeout
    }
    // A readiness probe's connect-and-close, many times a second, is not a session.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!stopped && std::chrono::steady_clock::now() < deadline) {
        try {
            BlockingClient probe("tcp:127.0.0.1:" + port);
        } catch (const std::runtime_error&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(stopped);
    thread.join();
    pool.join();
    fs::remove_all(dir);
}

TEST_CASE("agent: a session whose link drops is kept for the time it asked, and resumed by its token") {
    AgentFixture agent;
    fs::path file = agent.dir / "kept.txt";
    { std::ofstream(file) << "still here"; }
    auto first = std::make_unique<BlockingClient>(agent.address);
    auto hello = expect<HelloOk>(first->request(Hello{kProtocolVersion, "test", 2000, ""}));
    REQUIRE(hello.session_token.size() == 32);
    CHECK_FALSE(hello.resumed);
    auto opened = expect<FileOpened>(first->request(FileOpen{file.string(), O_RDONLY, 0}));
    first.reset();  // the link drops without Goodbye
    auto resume = [&](BlockingClient& c) { return c.request(Hello{kProtocolVersion, "test", 2000, hello.session_token}); };

    SECTION("resumed: its file handles are still open") {
        BlockingClient second(agent.address);
        auto again = expect<HelloOk>(resume(second));
        CHECK(again.resumed);
        CHECK(again.session_token == hello.session_token);
        auto data = expect<FileData>(second.request(FileRead{opened.handle, 0, 100}));
        CHECK(std::string(data.data.begin(), data.data.end()) == "still here");
    }
    SECTION("a token nobody holds is refused") {
        BlockingClient second(agent.address);
        CHECK(error_code(second.request(Hello{kProtocolVersion, "test", 2000, std::string(32, '0')})) == ESTALE);
        CHECK(second.closed_by_peer(2000));
    }
    SECTION("not resumed in time: the session ends") {
        std::this_thread::sleep_for(std::chrono::milliseconds(2300));
        BlockingClient second(agent.address);
        CHECK(error_code(resume(second)) == ESTALE);
    }
    SECTION("a session that said Goodbye cannot be resumed") {
        BlockingClient second(agent.address);
        expect<HelloOk>(resume(second));
        second.send(0, Goodbye{});
        second.request(Ping{});
        ::shutdown(second.fd(), SHUT_RDWR);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        BlockingClient third(agent.address);
        CHECK(error_code(resume(third)) == ESTALE);
    }
    SECTION("a link that has not noticed it is dead is replaced by the resuming one") {
        BlockingClient second(agent.address);
        expect<HelloOk>(resume(second));
        BlockingClient third(agent.address);  // second is still connected
        CHECK(expect<HelloOk>(resume(third)).resumed);
        CHECK(second.closed_by_peer(2000));
        CHECK(expect<FileData>(third.request(FileRead{opened.handle, 0, 5})).data.size() == 5);
    }
}

TEST_CASE("agent: files") {
    AgentFixture agent;
    auto c = agent.greeted_client();
    fs::path d = agent.dir / "files";
    fs::create_directories(d);
    { std::ofstream(d / "hello.txt") << "hello world"; }

    SECTION("open, read in ranges, fstat, close") {
        auto opened = expect<FileOpened>(c->request(FileOpen{(d / "hello.txt").string(), O_RDONLY, 0}));
        CHECK(opened.stat.size == 11);
        auto part = expect<FileData>(c->request(FileRead{opened.handle, 6, 100}));
        CHECK(std::string(part.data.begin(), part.data.end()) == "world");
        CHECK(part.eof);
        CHECK(expect<FileStatReply>(c->request(FileFstat{opened.handle})).stat.size == 11);
        expect<Ok>(c->request(FileClose{opened.handle}));
        CHECK(error_code(c->request(FileRead{opened.handle, 0, 1})) == EBADF);
    }
    SECTION("a new version replaces a file whole, or not at all, keeping its owner and mode") {
        std::string path = (d / "config.txt").string();
        { std::ofstream(path) << "old version"; }
        ::chmod(path.c_str(), 0640);
        bool root = ::geteuid() == 0;
        if (root) REQUIRE(::chown(path.c_str(), 1234, 5678) == 0);
        auto count_files = [&] { return std::distance(fs::directory_iterator(d), fs::directory_iterator()); };
        auto before = count_files();
        // Abandoned midway (the client failed to read its copy, or lost the link): the old one stays.
        auto dropped = expect<FileOpened>(c->request(FileOpen{path, O_WRONLY | O_CREAT | O_TRUNC, 0644, true}));
        expect<FileWritten>(c->request(FileWrite{dropped.handle, 0, Bytes{'n', 'e', 'w'}}));
        { std::ifstream in(path); std::string text; std::getline(in, text); CHECK(text == "old version"); }
        expect<Ok>(c->request(FileClose{dropped.handle, false}));
        { std::ifstream in(path); std::string text; std::getline(in, text); CHECK(text == "old version"); }
        CHECK(count_files() == before);  // no temporary file left
        // Committed: the new version, with the old one's owner and mode.
        auto kept = expect<FileOpened>(c->request(FileOpen{path, O_WRONLY | O_CREAT | O_TRUNC, 0644, true}));
        expect<FileWritten>(c->request(FileWrite{kept.handle, 0, Bytes{'n', 'e', 'w'}}));
        expect<Ok>(c->request(FileClose{kept.handle, true}));
        { std::ifstream in(path); std::string text; std::getline(in, text); CHECK(text == "new"); }
        struct stat st{};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0640);
        if (root) CHECK((st.st_uid == 1234 && st.st_gid == 5678));
        CHECK(count_files() == before);
        // A hard link stays one: written in place.
        std::string link = (d / "link.txt").string();
        REQUIRE(::link(path.c_str(), link.c_str()) == 0);
        auto linked = expect<FileOpened>(c->request(FileOpen{path, O_WRONLY | O_CREAT | O_TRUNC, 0644, true}));
        expect<FileWritten>(c->request(FileWrite{linked.handle, 0, Bytes{'v', '3'}}));
        expect<Ok>(c->request(FileClose{linked.handle, true}));
        { std::ifstream in(link); std::string text; std::getline(in, text); CHECK(text == "v3"); }
    }
    SECTION("what a client caches is watched: FileChanged once per watch, for content, absence and entries") {
        std::string path = (d / "hello.txt").string(), missing = (d / "later.txt").string();
        auto changed = [&](int ms) -> std::optional<FileChanged> {
            auto m = c->next_streamed_for(ms);
            if (!m || !std::holds_alternative<FileChanged>(*m)) return std::nullopt;
            return std::get<FileChanged>(*m);
        };
        CHECK(expect<FileStatReply>(c->request(FileStat{path, true, true})).watched);
        CHECK_FALSE(expect<FileStatReply>(c->request(FileStat{path, true, false})).watched);  // not asked
        { std::ofstream(path, std::ios::app) << "!"; }
        auto first = changed(2000);
        REQUIRE(first);
        CHECK(first->path == path);
        { std::ofstream(path, std::ios::app) << "!"; }
        CHECK_FALSE(changed(300));  // told once; asking again arms it again
        auto opened = expect<FileOpened>(c->request(FileOpen{path, O_RDONLY, 0, false, true}));
        CHECK(opened.watched);
        expect<Ok>(c->request(FileClose{opened.handle}));
        fs::rename(path, d / "renamed.txt");
        REQUIRE(changed(2000));

        auto absent = c->request(FileStat{missing, true, true});
        REQUIRE(std::holds_alternative<ErrorReply>(absent));
        CHECK(std::get<ErrorReply>(absent).code == ENOENT);
        CHECK(std::get<ErrorReply>(absent).watched);
        { std::ofstream(missing) << "now here"; }
        auto appeared = changed(2000);
        REQUIRE(appeared);
        CHECK(appeared->path == missing);

        auto dir = expect<FileOpened>(c->request(FileOpen{d.string(), O_RDONLY | O_DIRECTORY, 0, false, true}));
        CHECK(dir.watched);
        expect<Ok>(c->request(FileClose{dir.handle}));
        fs::create_directories(d / "new-dir");
        auto entries = changed(2000);
        REQUIRE(entries);
        CHECK(entries->path == d.string());

        fs::create_symlink(d / "renamed.txt", d / "link.txt");
        CHECK_FALSE(expect<FileStatReply>(c->request(FileStat{(d / "link.txt").string(), true, true})).watched);  // its target may be anywhere
    }
    SECTION("create, write, truncate, rename, unlink") {
        std::string path = (d / "new.txt").string();
        auto opened = expect<FileOpened>(c->request(FileOpen{path, O_WRONLY | O_CREAT | O_EXCL, 0640}));
        CHECK(expect<FileWritten>(c->request(FileWrite{opened.handle, 0, Bytes{'a', 'b', 'c', 'd'}})).count == 4);
        expect<Ok>(c->request(FileClose{opened.handle}));
        CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
        expect<Ok>(c->request(Truncate{path, 2}));
        CHECK(fs::file_size(path) == 2);
        std::string moved = (d / "moved.txt").string();
        expect<Ok>(c->request(Rename{path, moved, 0}));
        CHECK(fs::exists(moved));
        expect<Ok>(c->request(Unlink{moved, false}));
        CHECK_FALSE(fs::exists(moved));
        CHECK(error_code(c->request(Unlink{moved, false})) == ENOENT);
    }
    SECTION("directories") {
        std::string sub = (d / "sub").string();
        expect<Ok>(c->request(MkDir{sub, 0755}));
        CHECK(error_code(c->request(MkDir{sub, 0755})) == EEXIST);
        auto dir = expect<FileOpened>(c->request(FileOpen{d.string(), O_RDONLY | O_DIRECTORY, 0}));
        std::set<std::string> names;
        for (;;) {
            auto batch = expect<DirEntries>(c->request(DirRead{dir.handle, 100}));
            for (auto& e : batch.entries) names.insert(e.name);
            if (batch.eof) break;
        }
        CHECK(names == std::set<std::string>{".", "..", "hello.txt", "sub"});
        expect<Ok>(c->request(Unlink{sub, true}));
    }
    SECTION("stat, lstat, readlink, access, statfs") {
        fs::create_symlink("hello.txt", d / "link");
        auto st = expect<FileStatReply>(c->request(FileStat{(d / "link").string(), true})).stat;
        CHECK(S_ISREG(st.mode));
        CHECK(st.size == 11);
        auto lst = expect<FileStatReply>(c->request(FileStat{(d / "link").string(), false})).stat;
        CHECK(S_ISLNK(lst.mode));
        CHECK(expect<LinkTarget>(c->request(ReadLink{(d / "link").string()})).target == "hello.txt");
        expect<Ok>(c->request(Access{(d / "hello.txt").string(), R_OK}));
        CHECK(error_code(c->request(Access{(d / "nope").string(), F_OK})) == ENOENT);
        CHECK(expect<StatFsReply>(c->request(StatFs{d.string()})).bsize > 0);
    }
    SECTION("relative paths are refused") {
        CHECK(error_code(c->request(FileOpen{"relative/path", O_RDONLY, 0})) == EINVAL);
    }
    SECTION("a large file arrives intact in 1 MiB chunks") {
        std::string big((3 << 20) + 123, '\0');
        for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7919 % 251);
        { std::ofstream(d / "big.bin", std::ios::binary) << big; }
        auto opened = expect<FileOpened>(c->request(FileOpen{(d / "big.bin").string(), O_RDONLY, 0}));
        std::string got;
        for (;;) {
            auto chunk = expect<FileData>(c->request(FileRead{opened.handle, got.size(), kMaxChunk}));
            got.append(chunk.data.begin(), chunk.data.end());
            if (chunk.eof) break;
        }
        CHECK(got == big);
    }
}

TEST_CASE("agent: env and dns") {
    AgentFixture agent;
    auto c = agent.greeted_client();
    auto env = expect<EnvReply>(c->request(EnvGet{}));
    CHECK(env.vars.count("PATH") == 1);
    CHECK(expect<DnsReply>(c->request(DnsLookup{"localhost", 4})).addresses == std::vector<std::string>{"127.0.0.1"});
    CHECK(expect<DnsReply>(c->request(DnsLookup{"10.1.2.3", 0})).addresses == std::vector<std::string>{"10.1.2.3"});
    CHECK(error_code(c->request(DnsLookup{"", 0})) == EINVAL);
}

TEST_CASE("agent: outgoing tcp respects flow control") {
    AgentFixture agent;
    auto c = agent.greeted_client();
    Listener server;
    auto connected = expect<Connected>(c->request(TcpConnect{1, {"127.0.0.1", server.port}, 2000}));
    CHECK(connected.remote.port == server.port);
    int peer = ::accept(server.fd, nullptr, nullptr);
    REQUIRE(peer >= 0);

    // The server sends far more than a window while the client grants nothing: the agent forwards at
    // most one window and leaves the rest in the kernel, throttling the server.
    std::thread writer([peer] {
        std::vector<char> block(1 << 16, 'x');
        for (int i = 0; i < 128; ++i)
            if (::send(peer, block.data(), block.size(), MSG_NOSIGNAL) <= 0) break;
        ::shutdown(peer, SHUT_WR);
    });
    size_t received = 0;
    while (auto e = c->receive_for(500)) {
        if (auto* d = std::get_if<Data>(&e->message)) received += d->bytes.size();
    }
    CHECK(received == kInitialWindow);

    // Granting credit lets the rest through, up to the server's EOF.
    bool eof = false;
    while (!eof) {
        c->send(0, WindowUpdate{1, static_cast<uint32_t>(kInitialWindow)});
        while (auto e = c->receive_for(500)) {
            if (auto* d = std::get_if<Data>(&e->message)) received += d->bytes.size();
            if (std::holds_alternative<Eof>(e->message)) { eof = true; break; }
        }
    }
    writer.join();
    CHECK(received == 128u << 16);

    // Data to the server, then our EOF: the server sees both.
    std::string msg = "request";
    c->send(0, Data{1, bytes_of(msg)});
    c->send(0, Eof{1});
    char buf[64];
    std::string got;
    for (ssize_t n; (n = ::recv(peer, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
    CHECK(got == msg);
    ::close(peer);
}

TEST_CASE("agent: outgoing errors are the real ones") {
    AgentFixture agent;
    auto c = agent.greeted_client();
    uint16_t closed_port;
    { Listener l; closed_port = l.port; }
    CHECK(error_code(c->request(TcpConnect{1, {"127.0.0.1", closed_port}, 2000})) == ECONNREFUSED);
    Listener server;
    expect<Connected>(c->request(TcpConnect{2, {"127.0.0.1", server.port}, 2000}));
    CHECK(error_code(c->request(TcpConnect{2, {"127.0.0.1", server.port}, 2000})) == EEXIST);
}

TEST_CASE("agent: outgoing udp") {
    AgentFixture agent;
    auto c = agent.greeted_client();
    int echo = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(echo, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    ::getsockname(echo, reinterpret_cast<sockaddr*>(&sa), &len);
    auto connected = expect<Connected>(c->request(UdpConnect{5, {"127.0.0.1", ntohs(sa.sin_port)}}));
    c->send(0, Data{5, Bytes{'p', 'i', 'n', 'g'}});
    char buf[16];
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    ssize_t n = ::recvfrom(echo, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    REQUIRE(n == 4);
    CHECK(ntohs(from.sin_port) == connected.local.port);
    ::sendto(echo, "pong", 4, 0, reinterpret_cast<sockaddr*>(&from), flen);
    auto reply = c->next_streamed();
    REQUIRE(std::holds_alternative<Data>(reply));
    CHECK(std::get<Data>(reply).bytes == Bytes{'p', 'o', 'n', 'g'});
    ::close(echo);
}
