// The GDB remote serial protocol's framing: "$payload#checksum" packets, '+'/'-' acks, binary
// escapes ('}' xor 0x20), and the hex encodings its packets use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mrd::tracer::gdb {

std::string frame(std::string_view payload);  // "$...#xx", binary-safe (escapes $ # } *)

// Accumulates bytes from gdb and yields what it sent: packets (payload unescaped, checksum verified)
// and interrupts (Ctrl-C, 0x03 outside a packet). Acks are consumed.
class PacketReader {
public:
    struct Item {
        enum class Kind { packet, interrupt, bad_checksum } kind;
        std::string payload;
    };
    void append(const char* data, size_t n) { buffer_.append(data, n); }
    std::optional<Item> next();

private:
    std::string buffer_;
};

std::string to_hex(const void* data, size_t n);
std::string to_hex(std::string_view text);
std::optional<std::vector<uint8_t>> from_hex(std::string_view hex);
std::optional<uint64_t> parse_hex(std::string_view hex);
// Little-endian target values in register/memory packets.
std::string hex_le(uint64_t value, size_t bytes);
// A number as packets write it: lowercase hex, no leading zeros ("4fff").
std::string hex_number(uint64_t value);
// A packet's fields: "a,b,,c" -> {"a", "b", "", "c"}.
std::vector<std::string> split(const std::string& text, char separator);

}  // namespace mrd::tracer::gdb
