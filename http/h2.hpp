// An HTTP/2 connection (nghttp2) driven by bytes in and bytes out, for relaying requests and
// responses stream by stream: headers, body (sent as it arrives), trailers (gRPC's status).
// Cleartext with prior knowledge, as between services in a cluster.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

struct nghttp2_session;

namespace mrd::http {

using H2Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr char kH2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class H2Session {
public:
    struct Handlers {
        // A header block: the request/response head, or trailers. end: the stream's last frame.
        std::function<void(int32_t stream, H2Headers headers, bool trailers, bool end)> on_headers;
        std::function<void(int32_t stream, const char* data, size_t size)> on_data;
        std::function<void(int32_t stream)> on_end;  // after DATA with END_STREAM
        std::function<void(int32_t stream, uint32_t error)> on_close;
    };
    enum class Role { client, server };

    H2Session(Role role, Handlers handlers);
    ~H2Session();
    H2Session(const H2Session&) = delete;

    Status receive(const char* data, size_t size);
    // What must go to the peer now.
    std::string take_output();
    bool finished() const;  // neither side wants to go on

    // Client: a request whose body follows with send()/finish(); end: it has none.
    int32_t request(const H2Headers& headers, bool end);
    // Server: the response of a stream.
    void respond(int32_t stream, const H2Headers& headers, bool end);
    void send(int32_t stream, const char* data, size_t size);
    // Ends the stream's body, with trailers when given.
    void finish(int32_t stream, const H2Headers& trailers = {});
    void reset(int32_t stream, uint32_t error);

    // Called by nghttp2 (public only for its C callbacks).
    struct Outgoing {
        std::string buffer;
        bool ended = false;
        H2Headers trailers;
        bool provider = false;  // a data provider is attached
    };
    std::map<int32_t, Outgoing> outgoing;
    std::map<int32_t, H2Headers> incoming_headers;
    Handlers handlers;
    nghttp2_session* session = nullptr;

private:
    void attach_body(int32_t stream);
};

}  // namespace mrd::http
