// agent-probe: a minimal synchronous agent client for tests and debugging.
//   agent-probe ADDR hello | cat PATH | stat PATH | ls PATH | env [NAME] | resolve NAME |
//               http HOST PORT PATH | refused HOST PORT
// ADDR is unix:PATH or tcp:HOST:PORT. Exit status 0 on success, 1 on an error reply, 2 on misuse.
#include "tests/tools/blocking_client.hpp"
#include "wire/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <iostream>

using namespace mrd::wire;
using mrd::test::BlockingClient;

namespace {

[[noreturn]] void die(const std::string& message, int code = 1) {
    std::cerr << "agent-probe: " << message << "\n";
    std::exit(code);
}

template <class T>
T expect(Message m) {
    if (auto* err = std::get_if<ErrorReply>(&m)) die(err->message + " (errno " + std::to_string(err->code) + ")");
    if (auto* v = std::get_if<T>(&m)) return std::move(*v);
    die(std::string("unexpected reply ") + kind_name(kind_of(m)));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) die("usage: agent-probe ADDR COMMAND [ARGS...]", 2);
    std::vector<std::string> args(argv + 3, argv + argc);
    std::string cmd = argv[2];
    auto need = [&](size_t n) { if (args.size() < n) die("missing arguments for " + cmd, 2); };
    std::optional<BlockingClient> connection;
    try {
        connection.emplace(argv[1]);
    } catch (const std::exception& e) {
        die(e.what());
    }
    BlockingClient& client = *connection;
    auto hello = expect<HelloOk>(client.request(Hello{kProtocolVersion, "agent-probe"}));

    if (cmd == "hello") {
        std::cout << "hostname " << hello.hostname << "\ntarget_pid " << hello.target_pid << "\n";
    } else if (cmd == "cat") {
        need(1);
        auto opened = expect<FileOpened>(client.request(FileOpen{args[0], 0, 0}));
        for (uint64_t offset = 0;;) {
            auto data = expect<FileData>(client.request(FileRead{opened.handle, offset, kMaxChunk}));
            std::cout.write(data.data.data(), static_cast<std::streamsize>(data.data.size()));
            offset += data.data.size();
            if (data.eof || data.data.empty()) break;
        }
        expect<Ok>(client.request(FileClose{opened.handle}));
    } else if (cmd == "stat") {
        need(1);
        auto st = expect<FileStatReply>(client.request(FileStat{args[0], false})).stat;
        std::cout << "size " << st.size << "\nmode " << std::oct << st.mode << std::dec << "\nino " << st.ino << "\n";
    } else if (cmd == "ls") {
        need(1);
        auto opened = expect<FileOpened>(client.request(FileOpen{args[0], 0200000 /* O_DIRECTORY */, 0}));
        for (;;) {
            auto batch = expect<DirEntries>(client.request(DirRead{opened.handle, 1000}));
            for (auto& e : batch.entries) std::cout << e.name << "\n";
            if (batch.eof || batch.entries.empty()) break;
        }
    } else if (cmd == "env") {
        auto env = expect<EnvReply>(client.request(EnvGet{}));
        for (auto& [k, v] : env.vars)
            if (args.empty() || args[0] == k) std::cout << k << "=" << v << "\n";
    } else if (cmd == "resolve") {
        need(1);
        for (auto& a : expect<DnsReply>(client.request(DnsLookup{args[0], 0})).addresses) std::cout << a << "\n";
    } else if (cmd == "http" || cmd == "refused") {
        need(2);
        auto port = static_cast<uint16_t>(std::stoi(args[1]));
        Message reply = client.request(TcpConnect{1, {args[0], port}, 5000});
        if (cmd == "refused") {
            auto* err = std::get_if<ErrorReply>(&reply);
            if (err && err->code == ECONNREFUSED) { std::cout << "refused\n"; return 0; }
            die("expected connection refused");
        }
        auto connected = expect<Connected>(reply);
        std::cerr << "connected from " << to_string(connected.local) << "\n";
        std::string req = "GET " + (args.size() > 2 ? args[2] : "/") + " HTTP/1.0\r\nHost: " + args[0] + "\r\n\r\n";
        client.send(0, Data{1, bytes_of(req)});
        client.send(0, Eof{1});
        for (;;) {
            Message m = client.next_streamed();
            if (auto* d = std::get_if<Data>(&m)) {
                std::cout.write(d->bytes.data(), static_cast<std::streamsize>(d->bytes.size()));
                client.send(0, WindowUpdate{1, static_cast<uint32_t>(d->bytes.size())});
            } else if (std::holds_alternative<Eof>(m) || std::holds_alternative<Close>(m)) {
                break;
            }
        }
    } else {
        die("unknown command " + cmd, 2);
    }
    return 0;
}
