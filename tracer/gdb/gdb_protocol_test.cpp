#include "tracer/gdb/gdb_protocol.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer::gdb;

namespace {
// A packet as gdb sends it: body already escaped, checksum over the escaped bytes.
std::string raw_packet(const std::string& body) {
    unsigned sum = 0;
    for (unsigned char c : body) sum += c;
    return "$" + body + "#" + hex_le(sum & 0xff, 1);
}
}  // namespace

TEST_CASE("gdb protocol: framing, escapes, acks and interrupts") {
    CHECK(frame("OK") == "$OK#9a");
    CHECK(frame("a#b") == "$a}\x03" "b#" + frame("a#b").substr(frame("a#b").size() - 2));
    PacketReader r;
    std::string in = "+" + frame("qSupported:multiprocess+") + "\x03" + raw_packet("X1000,2:}\x03}]") + "$g#00";
    r.append(in.data(), in.size());
    auto a = r.next();
    REQUIRE(a);
    CHECK(a->kind == PacketReader::Item::Kind::packet);
    CHECK(a->payload == "qSupported:multiprocess+");
    CHECK(r.next()->kind == PacketReader::Item::Kind::interrupt);
    auto x = r.next();
    CHECK(x->payload == std::string("X1000,2:#}"));
    CHECK(r.next()->kind == PacketReader::Item::Kind::bad_checksum);
    CHECK_FALSE(r.next());
    std::string half = "$m10,4#";
    r.append(half.data(), half.size());
    CHECK_FALSE(r.next());  // incomplete
    r.append("2e", 2);
    CHECK(r.next()->payload == "m10,4");
}

TEST_CASE("gdb protocol: hex") {
    CHECK(to_hex(std::string_view("hi")) == "6869");
    CHECK(from_hex("6869").value() == std::vector<uint8_t>{'h', 'i'});
    CHECK_FALSE(from_hex("6"));
    CHECK_FALSE(from_hex("zz"));
    CHECK(parse_hex("7fffffffe000").value() == 0x7fffffffe000);
    CHECK(hex_le(0x1234, 4) == "34120000");
}
