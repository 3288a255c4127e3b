#include "wire/codec.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace mrd::wire {
namespace {

// A growable buffer msgpack's packer can write into directly.
struct VectorWriter {
    std::vector<char>& out;
    void write(const char* data, size_t size) { out.insert(out.end(), data, data + size); }
};

template <size_t I = 0>
Result<Message> convert_body(Kind kind, const msgpack::object& body) {
    if constexpr (I == std::variant_size_v<Message>) {
        return Error::msg("unknown message kind " + std::to_string(static_cast<unsigned>(kind)), EPROTO);
    } else {
        using T = std::variant_alternative_t<I, Message>;
        if (T::kind != kind) return convert_body<I + 1>(kind, body);
        T value;
        body.convert(value);  // throws msgpack::type_error on a shape mismatch
        return Message{std::move(value)};
    }
}

}  // namespace

void encode(const Envelope& envelope, std::vector<char>& out) {
    size_t header = out.size();
    out.resize(header + 4);
    VectorWriter writer{out};
    msgpack::packer<VectorWriter> pk(writer);
    pk.pack_array(3);
    std::visit(
        [&](const auto& m) {
            pk.pack(static_cast<uint16_t>(std::decay_t<decltype(m)>::kind));
            pk.pack(envelope.id);
            pk.pack(m);
        },
        envelope.message);
    uint32_t len = static_cast<uint32_t>(out.size() - header - 4);
    unsigned char prefix[4] = {static_cast<unsigned char>(len >> 24), static_cast<unsigned char>(len >> 16),
                               static_cast<unsigned char>(len >> 8), static_cast<unsigned char>(len)};
    std::memcpy(out.data() + header, prefix, 4);
}

std::vector<char> encode(const Envelope& envelope) {
    std::vector<char> out;
    encode(envelope, out);
    return out;
}

Result<Envelope> decode(std::span<const char> payload) {
    if (payload.size() > kMaxFrame) return Error::msg("frame exceeds the maximum size", EMSGSIZE);
    // Every msgpack element takes at least one byte, so no container in a valid payload can claim
    // more elements than the payload has bytes: bounding by the size defeats allocation bombs.
    size_t n = payload.size();
    msgpack::unpack_limit limit(n, n, n, n, n, 32);
    try {
        size_t offset = 0;
        // Strings and binaries are referenced in the payload, not copied: converting copies them once.
        auto in_place = [](msgpack::type::object_type, size_t, void*) { return true; };
        msgpack::object_handle handle =
            msgpack::unpack(payload.data(), payload.size(), offset, in_place, nullptr, limit);
        if (offset != payload.size()) return Error::msg("malformed message: trailing bytes", EPROTO);
        const msgpack::object& root = handle.get();
        if (root.type != msgpack::type::ARRAY || root.via.array.size != 3)
            return Error::msg("malformed envelope: expected [kind, id, body]", EPROTO);
        const msgpack::object* parts = root.via.array.ptr;
        auto kind = static_cast<Kind>(parts[0].as<uint16_t>());
        uint32_t id = parts[1].as<uint32_t>();
        Result<Message> message = convert_body(kind, parts[2]);
        if (!message) return message.error();
        return Envelope{id, std::move(message.value())};
    } catch (const std::exception& e) {
        return Error::msg(std::string("malformed message: ") + e.what(), EPROTO);
    }
}

void FrameReader::append(const char* data, size_t size) {
    reserve(size);
    std::memcpy(buffer_.get() + end_, data, size);
    end_ += size;
}

void FrameReader::reserve(size_t room) {
    if (start_ == end_) start_ = end_ = 0;
    if (capacity_ - end_ >= room) return;
    size_t unread = end_ - start_;
    if (capacity_ - unread >= room) {  // sliding the unread bytes down suffices
        std::memmove(buffer_.get(), buffer_.get() + start_, unread);
    } else {
        size_t capacity = std::max(unread + room, capacity_ * 2);
        auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
        if (unread) std::memcpy(bigger.get(), buffer_.get() + start_, unread);
        buffer_ = std::move(bigger);
        capacity_ = capacity;
    }
    start_ = 0;
    end_ = unread;
}

std::span<char> FrameReader::prepare() {
    constexpr size_t kMinRead = 256 * 1024;
    size_t room = kMinRead;
    if (size_t available = end_ - start_; available >= 4) {  // a frame has begun: room for all of it
        const auto* p = reinterpret_cast<const unsigned char*>(buffer_.get() + start_);
        size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
        if (len <= kMaxFrame && 4 + len > available) room = std::max(room, 4 + len - available);
    }
    reserve(room);
    return {buffer_.get() + end_, capacity_ - end_};
}

Result<std::optional<std::span<const char>>> FrameReader::next() {
    size_t available = end_ - start_;
    if (available < 4) return std::optional<std::span<const char>>{};
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.get() + start_);
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    if (len > kMaxFrame)
        return Error::msg("incoming frame of " + std::to_string(len) + " bytes exceeds the limit", EMSGSIZE);
    if (available < 4 + size_t{len}) return std::optional<std::span<const char>>{};
    std::span<const char> payload(buffer_.get() + start_ + 4, len);
    start_ += 4 + len;
    return std::optional<std::span<const char>>{payload};
}

const char* kind_name(Kind kind) {
    switch (kind) {
#define MRD_KIND(k) case Kind::k: return #k;
        MRD_KIND(Hello) MRD_KIND(HelloOk) MRD_KIND(Ping) MRD_KIND(Pong) MRD_KIND(ErrorReply) MRD_KIND(Ok) MRD_KIND(Goodbye)
        MRD_KIND(FileOpen) MRD_KIND(FileOpened) MRD_KIND(FileStat) MRD_KIND(FileFstat) MRD_KIND(FileStatReply)
        MRD_KIND(FileRead) MRD_KIND(FileData) MRD_KIND(FileWrite) MRD_KIND(FileWritten) MRD_KIND(FileClose)
        MRD_KIND(DirRead) MRD_KIND(DirEntries) MRD_KIND(ReadLink) MRD_KIND(LinkTarget) MRD_KIND(MkDir)
        MRD_KIND(Unlink) MRD_KIND(Rename) MRD_KIND(Access) MRD_KIND(StatFs) MRD_KIND(StatFsReply)
        MRD_KIND(Truncate) MRD_KIND(FileChanged) MRD_KIND(EnvGet) MRD_KIND(EnvReply) MRD_KIND(DnsLookup) MRD_KIND(DnsReply)
        MRD_KIND(TcpConnect) MRD_KIND(UdpConnect) MRD_KIND(Connected) MRD_KIND(Data) MRD_KIND(WindowUpdate)
        MRD_KIND(Eof) MRD_KIND(Close) MRD_KIND(UnixConnect) MRD_KIND(PortSubscribe) MRD_KIND(PortSubscribed)
        MRD_KIND(PortUnsubscribe) MRD_KIND(IncomingConnection) MRD_KIND(HttpRequest) MRD_KIND(HttpResponse)
        MRD_KIND(ProgramConnect) MRD_KIND(ProgramConnected)
#undef MRD_KIND
    }
    return "unknown";
}

}  // namespace mrd::wire
