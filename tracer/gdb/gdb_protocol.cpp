#include "tracer/gdb/gdb_protocol.hpp"

#include <sstream>

namespace mrd::tracer::gdb {

std::string frame(std::string_view payload) {
    std::string body;
    for (char c : payload) {
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            body += '}';
            body += static_cast<char>(c ^ 0x20);
        } else {
            body += c;
        }
    }
    uint8_t sum = 0;
    for (char c : body) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(c));
    static const char* digits = "0123456789abcdef";
    return "$" + body + "#" + digits[sum >> 4] + digits[sum & 15];
}

std::optional<PacketReader::Item> PacketReader::next() {
    while (!buffer_.empty()) {
        char c = buffer_[0];
        if (c == '+' || c == '-') {  // acks (we resend nothing: gdb's own retransmit covers it)
            buffer_.erase(0, 1);
            continue;
        }
        if (c == '\x03') {
            buffer_.erase(0, 1);
            return Item{Item::Kind::interrupt, {}};
        }
        if (c != '$') {  // noise between packets
            buffer_.erase(0, 1);
            continue;
        }
        auto hash = buffer_.find('#');
        if (hash == std::string::npos || buffer_.size() < hash + 3) return std::nullopt;
        std::string body = buffer_.substr(1, hash - 1);
        auto expected = parse_hex(std::string_view(buffer_).substr(hash + 1, 2));
        buffer_.erase(0, hash + 3);
        uint8_t sum = 0;
        for (char b : body) sum = static_cast<uint8_t>(sum + static_cast<uint8_t>(b));
        if (!expected || *expected != sum) return Item{Item::Kind::bad_checksum, {}};
        std::string payload;
        for (size_t i = 0; i < body.size(); ++i) {
            if (body[i] == '}' && i + 1 < body.size()) payload += static_cast<char>(body[++i] ^ 0x20);
            else payload += body[i];
        }
        return Item{Item::Kind::packet, payload};
    }
    return std::nullopt;
}

std::string to_hex(const void* data, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

std::string to_hex(std::string_view text) { return to_hex(text.data(), text.size()); }

std::optional<std::vector<uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2) return std::nullopt;
    std::vector<uint8_t> out;
    for (size_t i = 0; i < hex.size(); i += 2) {
        auto v = parse_hex(hex.substr(i, 2));
        if (!v) return std::nullopt;
        out.push_back(static_cast<uint8_t>(*v));
    }
    return out;
}

std::optional<uint64_t> parse_hex(std::string_view hex) {
    if (hex.empty() || hex.size() > 16) return std::nullopt;
    uint64_t v = 0;
    for (char c : hex) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = v << 4 | static_cast<uint64_t>(d);
    }
    return v;
}

std::string hex_le(uint64_t value, size_t bytes) { return to_hex(&value, bytes); }

std::string hex_number(uint64_t value) {
    std::ostringstream out;
    out << std::hex << value;
    return out.str();
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string part; std::getline(in, part, separator);) out.push_back(part);
    if (!text.empty() && text.back() == separator) out.emplace_back();
    return out;
}

}  // namespace mrd::tracer::gdb
