#include "wire/codec.hpp"

#include <catch2/catch.hpp>

using namespace mrd::wire;

namespace {

// One populated instance of every message kind.
std::vector<Message> samples() {
    FileStatInfo st{1, 2, 0100644, 1, 1000, 1000, 0, 12345, 4096, 24, 1, 2, 3};
    HttpFilter filter{"all_of", "", {{"header", "x-user: alice", {}}, {"path", "^/api", {}}}};
    return {
        Hello{kProtocolVersion, "test", 60000, "0123abcd"}, HelloOk{kProtocolVersion, "0.1", "pod-1", 42, "0123abcd", true},
        Ping{}, Pong{}, ErrorReply{2, "No such file", true}, Ok{}, Goodbye{},
        FileOpen{"/app/config.yaml", 0, 0644, true, true}, FileOpened{7, st, true}, FileStat{"/etc", false, true}, FileFstat{7},
        FileStatReply{st}, FileRead{7, 100, 4096}, FileData{Bytes{'a', '\0', 'b'}, true},
        FileWrite{7, 0, Bytes{'x'}}, FileWritten{1}, FileClose{7, true}, DirRead{7, 100},
        DirEntries{{{"a", 1, 8}, {"b", 2, 4}}, false}, ReadLink{"/l"}, LinkTarget{"/target"},
        MkDir{"/d", 0700}, Unlink{"/d", true}, Rename{"/a", "/b", 1}, Access{"/a", 4}, StatFs{"/"},
        StatFsReply{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Truncate{"/a", 5}, FileChanged{"/app/config.yaml", true},
        EnvGet{}, EnvReply{{{"A", "1"}, {"B", "two"}}},
        DnsLookup{"backend.svc", 4}, DnsReply{{"10.0.0.1", "fd00::1"}},
        TcpConnect{1, {"10.0.0.1", 80}, 5000}, UdpConnect{2, {"fd00::1", 53}}, UnixConnect{3, "/run/app.sock"},
        Connected{1, {"10.0.0.2", 40000}, {"10.0.0.1", 80}}, Data{1, Bytes(70000, 'z')},
        WindowUpdate{1, 65536}, Eof{1}, Close{1, 104},
        PortSubscribe{80, "steal", filter}, PortSubscribed{80}, PortUnsubscribe{80},
        IncomingConnection{kAgentConnBit | 1, 80, {"10.0.0.9", 5555}, {"10.0.0.2", 80}, true},
        HttpRequest{kAgentConnBit | 1, 0, 80, {"10.0.0.9", 5555}, Bytes{'G', 'E', 'T'}, 2, {{":method", "POST"}}, Bytes{'x'}},
        HttpResponse{kAgentConnBit | 1, 0, Bytes{'H', 'o', 'k'}, {{":status", "200"}}, Bytes{'b'}, {{"grpc-status", "0"}}},
        ProgramConnect{kAgentConnBit | 2, 80, {"10.0.0.9", 5555}}, ProgramConnected{kAgentConnBit | 2, ECONNREFUSED, false, nullptr},
    };
}

Envelope decode_frame(const std::vector<char>& frame) {
    FrameReader reader;
    reader.append(frame.data(), frame.size());
    auto payload = reader.next();
    REQUIRE(payload.ok());
    REQUIRE(payload->has_value());
    auto envelope = decode(**payload);
    REQUIRE(envelope.ok());
    return std::move(envelope.value());
}

}  // namespace

TEST_CASE("every message kind survives a round trip") {
    auto all = samples();
    REQUIRE(all.size() == std::variant_size_v<Message>);  // a new kind needs a sample here
    uint32_t id = 1;
    for (auto& message : all) {
        INFO(kind_name(kind_of(message)));
        auto frame = encode(Envelope{id, message});
        Envelope back = decode_frame(frame);
        CHECK(back.id == id);
        CHECK(kind_of(back.message) == kind_of(message));
        CHECK(encode(back) == frame);
        ++id;
    }
}

TEST_CASE("decoded fields keep their values") {
    FileStatInfo st{1, 2, 0100644, 1, 1000, 1000, 0, 12345, 4096, 24, -1, 2, 3};
    auto back = decode_frame(encode(Envelope{9, FileOpened{7, st}}));
    auto& opened = std::get<FileOpened>(back.message);
    CHECK(opened.handle == 7);
    CHECK(opened.stat == st);

    auto data = decode_frame(encode(Envelope{0, Data{3, Bytes{'\0', '\xff', 'a'}}}));
    CHECK(std::get<Data>(data.message).bytes == Bytes{'\0', '\xff', 'a'});

    HttpFilter filter{"any_of", "", {{"method", "POST", {}}, {"all_of", "", {{"path", "/x", {}}}}}};
    auto sub = decode_frame(encode(Envelope{2, PortSubscribe{8080, "steal", filter}}));
    CHECK(std::get<PortSubscribe>(sub.message).filter == filter);
}

TEST_CASE("frames split at any byte boundary are reassembled") {
    std::vector<char> stream;
    encode(Envelope{1, Ping{}}, stream);
    encode(Envelope{2, Data{5, Bytes(1000, 'q')}}, stream);
    encode(Envelope{3, Pong{}}, stream);
    FrameReader reader;
    std::vector<Kind> kinds;
    for (char c : stream) {
        reader.append(&c, 1);
        auto frame = reader.next();
        REQUIRE(frame.ok());
        if (frame->has_value()) kinds.push_back(kind_of(decode(**frame)->message));
    }
    CHECK(kinds == std::vector<Kind>{Kind::Ping, Kind::Data, Kind::Pong});
    CHECK(reader.buffered() == 0);
}

TEST_CASE("malformed input is an error, not a crash") {
    SECTION("oversized frame") {
        FrameReader reader;
        const char header[4] = {'\x7f', '\xff', '\xff', '\xff'};
        reader.append(header, 4);
        auto frame = reader.next();
        REQUIRE_FALSE(frame.ok());
        CHECK(frame.error().code == EMSGSIZE);
    }
    SECTION("truncated frame waits for more") {
        auto frame = encode(Envelope{1, FileOpen{"/x", 0, 0}});
        FrameReader reader;
        reader.append(frame.data(), frame.size() - 1);
        auto next = reader.next();
        REQUIRE(next.ok());
        CHECK_FALSE(next->has_value());
    }
    SECTION("truncated payload") {
        auto frame = encode(Envelope{1, FileOpen{"/some/path", 0, 0}});
        for (size_t cut = 4; cut < frame.size(); ++cut)
            CHECK_FALSE(decode({frame.data() + 4, cut - 4}).ok());
    }
    SECTION("wrong shapes") {
        auto bad = [](auto value) {
            msgpack::sbuffer buf;
            msgpack::pack(buf, value);
            return decode({buf.data(), buf.size()});
        };
        CHECK_FALSE(bad(42).ok());
        CHECK_FALSE(bad(std::vector<int>{1, 2}).ok());
        CHECK_FALSE(bad(std::make_tuple(9999, 1, std::vector<int>{})).ok());               // unknown kind
        CHECK_FALSE(bad(std::make_tuple(20, 1, std::make_tuple(1, "x", 3))).ok());         // FileOpen path not a string
        CHECK_FALSE(bad(std::make_tuple(static_cast<int>(Kind::Data), -1, 5)).ok());       // negative id, body not array
    }
    SECTION("trailing bytes") {
        auto frame = encode(Envelope{1, Ping{}});
        frame.push_back('\0');
        CHECK_FALSE(decode({frame.data() + 4, frame.size() - 4}).ok());
    }
    SECTION("allocation bomb: array claiming 2^32-1 elements") {
        const char payload[] = {'\xdd', '\xff', '\xff', '\xff', '\xff'};
        auto result = decode({payload, sizeof payload});
        CHECK_FALSE(result.ok());
    }
    SECTION("random bytes") {
        uint32_t state = 12345;
        for (int i = 0; i < 20000; ++i) {
            std::vector<char> junk(state % 64);
            for (auto& c : junk) c = static_cast<char>((state = state * 1103515245 + 12345) >> 16);
            (void)decode(junk);
        }
        SUCCEED();
    }
}

TEST_CASE("missing trailing fields take defaults; extra ones are ignored (forward compatibility)") {
    msgpack::sbuffer buf;
    msgpack::pack(buf, std::make_tuple(static_cast<int>(Kind::TcpConnect), 4,
                                       std::make_tuple(11, std::make_tuple("10.1.1.1", 80))));
    auto old_peer = decode({buf.data(), buf.size()});
    REQUIRE(old_peer.ok());
    CHECK(std::get<TcpConnect>(old_peer->message).timeout_ms == 0);

    msgpack::sbuffer buf2;
    msgpack::pack(buf2, std::make_tuple(static_cast<int>(Kind::FileClose), 4, std::make_tuple(11, true, "future")));
    auto new_peer = decode({buf2.data(), buf2.size()});
    REQUIRE(new_peer.ok());
    CHECK(std::get<FileClose>(new_peer->message).handle == 11);
}
