// Incremental HTTP/1.x parsing (nodejs http-parser underneath), enough to split a byte stream into
// whole messages without changing a byte: where a request's head ends, what it asks for, and where
// the message (or its response) ends — content-length, chunked, until-close and HEAD responses.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mrd::http {

struct HttpHead {
    std::string method;  // requests
    std::string target;  // requests: path and query
    int status = 0;      // responses
    std::vector<std::pair<std::string, std::string>> headers;
};

class Http1Parser {
public:
    enum class Kind { request, response };
    explicit Http1Parser(Kind kind);
    Http1Parser(const Http1Parser&) = delete;

    struct Step {
        size_t consumed = 0;         // bytes of the input that belong to the current message
        bool headers_done = false;   // the head is complete (head() is valid); stops here, possibly
                                     // one byte short of the head's end
        bool message_done = false;   // the message is complete; stops here
        bool error = false;
    };
    // Feeds bytes; stops early after the head and after the message, so the caller can act there.
    Step feed(const char* data, size_t size);
    // The peer closed: a message delimited by the end of the connection completes here.
    Step finish();
    // For the response to a HEAD request: it has no body whatever its headers say.
    void expect_no_body() { no_body_ = true; }
    // Ready for the next message on the same connection.
    void next_message();

    const HttpHead& head() const { return head_; }
    bool keep_alive() const { return keep_alive_; }
    bool upgrade() const { return parser_.upgrade; }
    std::string error() const;

private:
    static int on_message_begin(http_parser* p);
    static int on_url(http_parser* p, const char* at, size_t n);
    static int on_header_field(http_parser* p, const char* at, size_t n);
    static int on_header_value(http_parser* p, const char* at, size_t n);
    static int on_headers_complete(http_parser* p);
    static int on_message_complete(http_parser* p);

    http_parser parser_{};
    http_parser_settings settings_{};
    HttpHead head_;
    bool headers_done_ = false, message_done_ = false, no_body_ = false, keep_alive_ = true;
    bool in_value_ = false;
};

// "HTTP/1.1 502 Bad Gateway" with a short text body and Connection: close.
std::string simple_http_response(int status, const std::string& reason, const std::string& body);

}  // namespace mrd::http
