// Every message exchanged between the supervisor (client) and the agent.
//
// On the wire a message is an envelope [kind, request_id, body] where body is the struct's fields as a
// msgpack array. Requests carry a non-zero id that the reply echoes; stream messages (Data, Eof, Close,
// WindowUpdate, IncomingConnection) carry id 0. A failed request is answered with ErrorReply.
#pragma once

#include "base/unique_fd.hpp"

#include <msgpack.hpp>

#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mrd::wire {

// Bumped on any incompatible change; the agent refuses a client with another major version.
inline constexpr uint32_t kProtocolVersion = 5;
// What the agent prints on stdout once it listens, followed by its addresses and fingerprint;
// launchers (the local agent's parent, the Job's log reader) wait for it.
inline constexpr const char* kAgentReadyLine = "mirrord-agent ready:";

// An allocator that leaves new elements uninitialised: a buffer about to be filled by pread or by
// decoding is not zeroed first (that was a whole extra pass over every megabyte of file data).
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = UninitializedAllocator<U>;
    };
    UninitializedAllocator() = default;
    template <typename U>
    UninitializedAllocator(const UninitializedAllocator<U>&) {}
    template <typename U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};
using Bytes = std::vector<char, UninitializedAllocator<char>>;  // packed as msgpack bin
// A copy of n bytes at data, by memcpy: with this allocator, the vector's range constructor copies
// byte by byte (5% of the agent's time in a download).
inline Bytes bytes_of(const char* data, size_t n) {
    Bytes bytes(n);
    if (n) std::memcpy(bytes.data(), data, n);
    return bytes;
}
template <class Container>
Bytes bytes_of(const Container& c) { return bytes_of(c.data(), c.size()); }

enum class Kind : uint16_t {
    Hello = 1, HelloOk, Ping, Pong, ErrorReply, Ok, Goodbye,
    FileOpen = 20, FileOpened, FileStat, FileFstat, FileStatReply, FileRead, FileData, FileWrite,
    FileWritten, FileClose, DirRead, DirEntries, ReadLink, LinkTarget, MkDir, Unlink, Rename, Access,
    StatFs, StatFsReply, Truncate, FileChanged,
    EnvGet = 50, EnvReply,
    DnsLookup = 60, DnsReply,
    TcpConnect = 70, UdpConnect, Connected, Data, WindowUpdate, Eof, Close,
    UnixConnect = 80,
    PortSubscribe = 90, PortSubscribed, PortUnsubscribe, IncomingConnection, HttpRequest, HttpResponse,
    ProgramConnect, ProgramConnected,
};

struct SocketAddress {
    std::string ip;  // textual IPv4 or IPv6
    uint16_t port = 0;
    bool operator==(const SocketAddress&) const = default;
    MSGPACK_DEFINE(ip, port)
};

// ---- session ----
struct Hello {
    static constexpr Kind kind = Kind::Hello;
    uint32_t protocol_version = kProtocolVersion;
    std::string client;  // "mirrord 0.1.0 pid 1234", for the agent's logs
    // A session whose link drops without Goodbye is kept this long for the client to resume it
    // (subscriptions, filters, file handles; connections are reset). 0: released at once.
    uint32_t keep_for_ms = 0;
    std::string resume_token;  // a HelloOk's session_token: resume that session instead of starting one
    MSGPACK_DEFINE(protocol_version, client, keep_for_ms, resume_token)
};
struct HelloOk {
    static constexpr Kind kind = Kind::HelloOk;
    uint32_t protocol_version = kProtocolVersion;
    std::string agent;      // agent version
    std::string hostname;   // the target's (UTS namespace) hostname
    int32_t target_pid = 0; // 0 when targetless
    std::string session_token;  // to resume this session over a new link
    bool resumed = false;
    MSGPACK_DEFINE(protocol_version, agent, hostname, target_pid, session_token, resumed)
};
// The client ends its session on purpose: the agent releases it at once instead of keeping it.
struct Goodbye { static constexpr Kind kind = Kind::Goodbye; MSGPACK_DEFINE() };
struct Ping { static constexpr Kind kind = Kind::Ping; MSGPACK_DEFINE() };
struct Pong { static constexpr Kind kind = Kind::Pong; MSGPACK_DEFINE() };
struct ErrorReply {
    static constexpr Kind kind = Kind::ErrorReply;
    int32_t code = 0;  // errno as the target saw it (0: not an OS error)
    std::string message;
    bool watched = false;  // a FileStat{watch} failure (ENOENT): FileChanged says when it no longer holds
    MSGPACK_DEFINE(code, message, watched)
};
struct Ok { static constexpr Kind kind = Kind::Ok; MSGPACK_DEFINE() };

// ---- files: paths are absolute paths inside the target's root ----
struct FileStatInfo {
    uint64_t dev = 0, ino = 0;
    uint32_t mode = 0, nlink = 0, uid = 0, gid = 0;
    uint64_t rdev = 0;
    int64_t size = 0, blksize = 0, blocks = 0;
    int64_t atime_ns = 0, mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileStatInfo&) const = default;
    MSGPACK_DEFINE(dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, atime_ns, mtime_ns, ctime_ns)
};
// One of its times as the kernel's structures carry it.
inline timespec to_timespec(int64_t ns) { return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; }
struct FileOpen {
    static constexpr Kind kind = Kind::FileOpen;
    std::string path;
    int32_t flags = 0;  // Linux O_* flags
    uint32_t mode = 0;
    // A new version of path: written to a temporary file beside it (with the owner and mode of the
    // file it replaces), which FileClose{commit} renames over path; path is never half written.
    bool replace = false;
    bool watch = false;  // the client caches what it reads: send FileChanged when path changes
    // On a link that passes descriptors (a unix socket), a regular file at least this large is
    // passed to the client itself, opened read-only, instead of kept behind a handle (0: never).
    uint64_t pass_from_size = 0;
    MSGPACK_DEFINE(path, flags, mode, replace, watch, pass_from_size)
};
struct FileOpened {
    static constexpr Kind kind = Kind::FileOpened;
    uint64_t handle = 0;
    FileStatInfo stat;
    bool watched = false;  // FileChanged will say when path changes (else the client revalidates)
    bool passed = false;   // the file rides along with this message (SCM_RIGHTS); there is no handle
    std::shared_ptr<UniqueFd> fd;  // the passed file: the session moves it, it is not encoded
    MSGPACK_DEFINE(handle, stat, watched, passed)
};
struct FileStat {
    static constexpr Kind kind = Kind::FileStat;
    std::string path;
    bool follow_symlinks = true;  // false: lstat
    bool watch = false;
    MSGPACK_DEFINE(path, follow_symlinks, watch)
};
struct FileFstat { static constexpr Kind kind = Kind::FileFstat; uint64_t handle = 0; MSGPACK_DEFINE(handle) };
struct FileStatReply {
    static constexpr Kind kind = Kind::FileStatReply;
    FileStatInfo stat;
    bool watched = false;
    MSGPACK_DEFINE(stat, watched)
};
// Pushed by the agent (id 0): something a client was told about path (its content, its stat, its
// absence, a directory's entries) may no longer hold; with subtree, anything below path too.
// Sent once per FileOpen/FileStat{watch}: a client that asks again is told again.
struct FileChanged {
    static constexpr Kind kind = Kind::FileChanged;
    std::string path;
    bool subtree = false;
    MSGPACK_DEFINE(path, subtree)
};
struct FileRead {
    static constexpr Kind kind = Kind::FileRead;
    uint64_t handle = 0;
    uint64_t offset = 0;
    uint32_t length = 0;  // at most kMaxChunk
    MSGPACK_DEFINE(handle, offset, length)
};
struct FileData {
    static constexpr Kind kind = Kind::FileData;
    Bytes data;
    bool eof = false;
    MSGPACK_DEFINE(data, eof)
};
struct FileWrite {
    static constexpr Kind kind = Kind::FileWrite;
    uint64_t handle = 0;
    uint64_t offset = 0;
    Bytes data;
    MSGPACK_DEFINE(handle, offset, data)
};
struct FileWritten { static constexpr Kind kind = Kind::FileWritten; uint64_t count = 0; MSGPACK_DEFINE(count) };
struct FileClose {
    static constexpr Kind kind = Kind::FileClose;
    uint64_t handle = 0;
    bool commit = false;  // a replacing handle: true puts the new version in place, false drops it
    MSGPACK_DEFINE(handle, commit)
};
struct DirEntry {
    std::string name;
    uint64_t ino = 0;
    uint8_t type = 0;  // DT_* value
    bool operator==(const DirEntry&) const = default;
    MSGPACK_DEFINE(name, ino, type)
};
struct DirRead {
    static constexpr Kind kind = Kind::DirRead;
    uint64_t handle = 0;  // from FileOpen with O_DIRECTORY
    uint32_t max_entries = 0;
    MSGPACK_DEFINE(handle, max_entries)
};
struct DirEntries {
    static constexpr Kind kind = Kind::DirEntries;
    std::vector<DirEntry> entries;
    bool eof = false;
    MSGPACK_DEFINE(entries, eof)
};
struct ReadLink { static constexpr Kind kind = Kind::ReadLink; std::string path; MSGPACK_DEFINE(path) };
struct LinkTarget { static constexpr Kind kind = Kind::LinkTarget; std::string target; MSGPACK_DEFINE(target) };
struct MkDir {
    static constexpr Kind kind = Kind::MkDir;
    std::string path;
    uint32_t mode = 0755;
    MSGPACK_DEFINE(path, mode)
};
struct Unlink {
    static constexpr Kind kind = Kind::Unlink;
    std::string path;
    bool directory = false;  // rmdir
    MSGPACK_DEFINE(path, directory)
};
struct Rename {
    static constexpr Kind kind = Kind::Rename;
    std::string from, to;
    uint32_t flags = 0;  // renameat2 RENAME_* flags
    MSGPACK_DEFINE(from, to, flags)
};
struct Access {
    static constexpr Kind kind = Kind::Access;
    std::string path;
    int32_t mode = 0;  // F_OK/R_OK/W_OK/X_OK
    MSGPACK_DEFINE(path, mode)
};
struct Truncate {
    static constexpr Kind kind = Kind::Truncate;
    std::string path;
    int64_t length = 0;
    MSGPACK_DEFINE(path, length)
};
struct StatFs { static constexpr Kind kind = Kind::StatFs; std::string path; MSGPACK_DEFINE(path) };
struct StatFsReply {
    static constexpr Kind kind = Kind::StatFsReply;
    int64_t type = 0, bsize = 0, blocks = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, namelen = 0,
            frsize = 0, flags = 0;
    MSGPACK_DEFINE(type, bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, flags)
};

// ---- environment ----
struct EnvGet { static constexpr Kind kind = Kind::EnvGet; MSGPACK_DEFINE() };
struct EnvReply {
    static constexpr Kind kind = Kind::EnvReply;
    std::map<std::string, std::string> vars;
    MSGPACK_DEFINE(vars)
};

// ---- DNS, resolved in the target with its resolv.conf and hosts ----
struct DnsLookup {
    static constexpr Kind kind = Kind::DnsLookup;
    std::string name;
    uint8_t family = 0;  // 0 any, 4, 6
    MSGPACK_DEFINE(name, family)
};
struct DnsReply {
    static constexpr Kind kind = Kind::DnsReply;
    std::vector<std::string> addresses;
    MSGPACK_DEFINE(addresses)
};

// ---- outgoing connections; conn ids of outgoing connections are chosen by the client ----
struct TcpConnect {
    static constexpr Kind kind = Kind::TcpConnect;
    uint64_t conn = 0;
    SocketAddress remote;  // ip may also be a host name, resolved in the target
    uint32_t timeout_ms = 0;
    // On a link that passes descriptors (a unix socket): a socket of this address family (the
    // program's; 0: none) connected within pass_within_ms comes itself with Connected{passed}, for
    // the client to give its program; one that takes longer is relayed.
    int32_t pass_family = 0;
    uint32_t pass_within_ms = 0;
    MSGPACK_DEFINE(conn, remote, timeout_ms, pass_family, pass_within_ms)
};
struct UdpConnect {
    static constexpr Kind kind = Kind::UdpConnect;
    uint64_t conn = 0;
    SocketAddress remote;
    MSGPACK_DEFINE(conn, remote)
};
// A unix stream socket at path in the target's file system; answered by Connected (no addresses).
struct UnixConnect {
    static constexpr Kind kind = Kind::UnixConnect;
    uint64_t conn = 0;
    std::string path;
    MSGPACK_DEFINE(conn, path)
};
struct Connected {
    static constexpr Kind kind = Kind::Connected;
    uint64_t conn = 0;
    SocketAddress local;   // the target-side socket's own address
    SocketAddress remote;
    bool passed = false;   // the connected socket rides along (SCM_RIGHTS): no Data for conn
    std::shared_ptr<UniqueFd> fd;  // that socket: the session moves it, it is not encoded
    MSGPACK_DEFINE(conn, local, remote, passed)
};
// Bytes of a stream, or one datagram of a UDP flow. Counts against the receiver's window.
struct Data {
    static constexpr Kind kind = Kind::Data;
    uint64_t conn = 0;
    Bytes bytes;
    MSGPACK_DEFINE(conn, bytes)
};
// The receiver consumed `bytes` more bytes: the sender may send that much more.
struct WindowUpdate {
    static constexpr Kind kind = Kind::WindowUpdate;
    uint64_t conn = 0;
    uint32_t bytes = 0;
    MSGPACK_DEFINE(conn, bytes)
};
// The sender will send no more (TCP half-close, shutdown(SHUT_WR)).
struct Eof { static constexpr Kind kind = Kind::Eof; uint64_t conn = 0; MSGPACK_DEFINE(conn) };
// The connection is gone in both directions; code is an errno (0: orderly).
struct Close {
    static constexpr Kind kind = Kind::Close;
    uint64_t conn = 0;
    int32_t code = 0;
    MSGPACK_DEFINE(conn, code)
};

// ---- incoming traffic; conn ids of incoming connections are chosen by the agent (kAgentConnBit) ----
inline constexpr uint64_t kAgentConnBit = 1ull << 63;

struct HttpFilter {
    std::string kind;     // "header", "path", "method", "all_of", "any_of"; empty: no filter
    std::string pattern;  // regex for header ("Name: value"), path or method
    std::vector<HttpFilter> children;
    bool operator==(const HttpFilter&) const = default;
    MSGPACK_DEFINE(kind, pattern, children)
};
struct PortSubscribe {
    static constexpr Kind kind = Kind::PortSubscribe;
    uint16_t port = 0;
    std::string mode;  // "mirror" or "steal"
    HttpFilter filter;
    // On a link that passes descriptors (a unix socket), a whole stolen connection whose socket is
    // of this address family (the program's listener's: AF_INET6 or AF_INET, as Linux numbers them;
    // 0: none) comes as that socket itself (IncomingConnection{passed}), for the client to hand to
    // its program: nothing is relayed.
    int32_t pass_family = 0;
    MSGPACK_DEFINE(port, mode, filter, pass_family)
};
struct PortSubscribed { static constexpr Kind kind = Kind::PortSubscribed; uint16_t port = 0; MSGPACK_DEFINE(port) };
struct PortUnsubscribe { static constexpr Kind kind = Kind::PortUnsubscribe; uint16_t port = 0; MSGPACK_DEFINE(port) };
struct IncomingConnection {
    static constexpr Kind kind = Kind::IncomingConnection;
    uint64_t conn = 0;
    uint16_t port = 0;     // the subscribed port
    SocketAddress remote;  // the real peer
    SocketAddress local;   // the address it connected to in the target
    bool mirror = false;   // a copy: what the client writes back is discarded
    bool passed = false;   // the connection's socket rides along (SCM_RIGHTS): no Data for conn
    std::shared_ptr<UniqueFd> fd;  // that socket: the session moves it, it is not encoded
    MSGPACK_DEFINE(conn, port, remote, local, mirror, passed)
};
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One HTTP request that matched a steal filter, answered with HttpResponse. HTTP/1: the bytes it
// arrived as (head and body, framing included) and the bytes of the whole response. HTTP/2: the
// header block (pseudo-headers included), the body, and for the response the trailers.
struct HttpRequest {
    static constexpr Kind kind = Kind::HttpRequest;
    uint64_t conn = 0;      // the client connection it arrived on (agent id)
    uint64_t request = 0;   // sequence number (HTTP/1) or stream id (HTTP/2) within that connection
    uint16_t port = 0;
    SocketAddress remote;
    Bytes bytes;            // HTTP/1
    uint8_t version = 1;    // 1 or 2
    HeaderList headers;     // HTTP/2
    Bytes body;             // HTTP/2
    bool mirrored = false;  // a copy (mirror mode): the program's response goes nowhere
    MSGPACK_DEFINE(conn, request, port, remote, bytes, version, headers, body, mirrored)
};
struct HttpResponse {
    static constexpr Kind kind = Kind::HttpResponse;
    uint64_t conn = 0;
    uint64_t request = 0;
    Bytes bytes;            // HTTP/1
    HeaderList headers;     // HTTP/2, with :status
    Bytes body;             // HTTP/2
    HeaderList trailers;    // HTTP/2
    MSGPACK_DEFINE(conn, request, bytes, headers, body, trailers)
};

// Requests that matched a client's filter, given to its program with no message each: on a link
// that passes descriptors, to a client that subscribed with pass_family, the agent asks for a
// connection to the program listening for `port` (made as for a stolen connection from `remote`).
// Its socket comes back in ProgramConnected{passed}; the agent writes such requests into it and
// reads the answers itself, and sends Close{conn} once it is done with it.
struct ProgramConnect {
    static constexpr Kind kind = Kind::ProgramConnect;
    uint64_t conn = 0;
    uint16_t port = 0;
    SocketAddress remote;
    MSGPACK_DEFINE(conn, port, remote)
};
struct ProgramConnected {
    static constexpr Kind kind = Kind::ProgramConnected;
    uint64_t conn = 0;
    int32_t error = 0;    // errno when there is no connection (the program does not accept)
    bool passed = false;  // the socket rides along (SCM_RIGHTS)
    std::shared_ptr<UniqueFd> fd;  // that socket: the session moves it, it is not encoded
    MSGPACK_DEFINE(conn, error, passed)
};

using Message = std::variant<
    Hello, HelloOk, Ping, Pong, ErrorReply, Ok, Goodbye,
    FileOpen, FileOpened, FileStat, FileFstat, FileStatReply, FileRead, FileData, FileWrite, FileWritten,
    FileClose, DirRead, DirEntries, ReadLink, LinkTarget, MkDir, Unlink, Rename, Access, StatFs,
    StatFsReply, Truncate, FileChanged,
    EnvGet, EnvReply,
    DnsLookup, DnsReply,
    TcpConnect, UdpConnect, Connected, Data, WindowUpdate, Eof, Close, UnixConnect,
    PortSubscribe, PortSubscribed, PortUnsubscribe, IncomingConnection, HttpRequest, HttpResponse,
    ProgramConnect, ProgramConnected>;

struct Envelope {
    uint32_t id = 0;  // request id; 0 for stream messages
    Message message;
};

inline constexpr uint32_t kMaxChunk = 1 << 20;        // largest FileRead/Data payload
inline constexpr uint32_t kMaxFrame = 16 << 20;       // larger frames are a protocol error
inline constexpr uint32_t kInitialWindow = 4 << 20;   // per connection and direction (1 MiB held a TLS link's download to ~340 MB/s here)

const char* kind_name(Kind kind);
inline Kind kind_of(const Message& m) {
    return std::visit([](const auto& x) { return std::decay_t<decltype(x)>::kind; }, m);
}

// Where a message that can carry an open descriptor along (passed) keeps it; null for the others,
// and for those sent without one.
inline std::shared_ptr<UniqueFd>* passed_fd(Message& m) {
    if (auto* opened = std::get_if<FileOpened>(&m); opened && opened->passed) return &opened->fd;
    if (auto* incoming = std::get_if<IncomingConnection>(&m); incoming && incoming->passed) return &incoming->fd;
    if (auto* connected = std::get_if<Connected>(&m); connected && connected->passed) return &connected->fd;
    if (auto* program = std::get_if<ProgramConnected>(&m); program && program->passed) return &program->fd;
    return nullptr;
}

}  // namespace mrd::wire
