// Framing and (de)serialisation of envelopes: a frame is a 4-byte big-endian payload length followed by
// the msgpack payload. Malformed input of any kind yields an Error, never a crash or an unbounded
// allocation.
#pragma once

#include "wire/messages.hpp"
#include "base/result.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace mrd::wire {

// Appends one complete frame (length prefix included) to out.
void encode(const Envelope& envelope, std::vector<char>& out);
std::vector<char> encode(const Envelope& envelope);

// Decodes one frame's payload (without the length prefix).
Result<Envelope> decode(std::span<const char> payload);

// Splits a byte stream into frame payloads. Bytes can be read straight into it (prepare, commit),
// and payloads are handed out in place: a megabyte of file data is not copied on its way to decode.
class FrameReader {
public:
    void append(const char* data, size_t size);
    // Room for at least the rest of the frame being received (and never less than 256 KiB) at the
    // end of the buffer; commit(n) once n bytes were read into it.
    std::span<char> prepare();
    void commit(size_t n) { end_ += n; }
    // The next complete payload, nullopt when more bytes are needed, or an error for an oversized
    // frame (after which the stream is unusable). The view is valid until the next call.
    Result<std::optional<std::span<const char>>> next();
    size_t buffered() const { return end_ - start_; }

private:
    void reserve(size_t room);  // free bytes after end_, moving unread ones to the front
    std::unique_ptr<char[]> buffer_;  // not a vector: growing it must not zero what reads overwrite
    size_t capacity_ = 0, start_ = 0, end_ = 0;
};

}  // namespace mrd::wire
