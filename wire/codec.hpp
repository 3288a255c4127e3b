// Framing and (de)serialisation of envelopes: a frame is a 4-byte big-endian payload length followed by
// the msgpack payload. Malformed input of any kind yields an Error, never a crash or an unbounded
// allocation.
#pragma once

#include "wire/messages.hpp"
#include "wire/result.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace mrd::wire {

// Appends one complete frame (length prefix included) to out.
void encode(const Envelope& envelope, std::vector<char>& out);
std::vector<char> encode(const Envelope& envelope);

// Decodes one frame's payload (without the length prefix).
Result<Envelope> decode(std::span<const char> payload);

// Splits a byte stream into frame payloads.
class FrameReader {
public:
    void append(const char* data, size_t size);
    // The next complete payload, nullopt when more bytes are needed, or an error for an oversized
    // frame (after which the stream is unusable).
    Result<std::optional<std::vector<char>>> next();
    size_t buffered() const { return buffer_.size() - start_; }

private:
    std::vector<char> buffer_;
    size_t start_ = 0;
};

}  // namespace mrd::wire
