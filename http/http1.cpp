#include "http/http1.hpp"

namespace mrd::http {

namespace {
Http1Parser* self(http_parser* p) { return static_cast<Http1Parser*>(p->data); }
}  // namespace

Http1Parser::Http1Parser(Kind kind) {
    http_parser_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = on_message_begin;
    settings_.on_url = on_url;
    settings_.on_header_field = on_header_field;
    settings_.on_header_value = on_header_value;
    settings_.on_headers_complete = on_headers_complete;
    settings_.on_message_complete = on_message_complete;
}

int Http1Parser::on_message_begin(http_parser* p) {
    auto* s = self(p);
    s->head_ = HttpHead{};
    s->in_value_ = false;
    return 0;
}

int Http1Parser::on_url(http_parser* p, const char* at, size_t n) {
    self(p)->head_.target.append(at, n);
    return 0;
}

int Http1Parser::on_header_field(http_parser* p, const char* at, size_t n) {
    auto* s = self(p);
    if (s->in_value_ || s->head_.headers.empty()) s->head_.headers.emplace_back();
    s->in_value_ = false;
    s->head_.headers.back().first.append(at, n);
    return 0;
}

int Http1Parser::on_header_value(http_parser* p, const char* at, size_t n) {
    auto* s = self(p);
    s->in_value_ = true;
    s->head_.headers.back().second.append(at, n);
    return 0;
}

int Http1Parser::on_headers_complete(http_parser* p) {
    auto* s = self(p);
    if (p->type == HTTP_REQUEST) s->head_.method = http_method_str(static_cast<http_method>(p->method));
    else s->head_.status = static_cast<int>(p->status_code);
    s->headers_done_ = true;
    // Stop here so the caller can decide before the body. (The head's last byte is consumed with
    // what follows.) An upgrade runs on to its end, where the parser stops by itself.
    if (!p->upgrade) http_parser_pause(p, 1);
    return s->no_body_ ? 1 : 0;  // 1: this message has no body
}

int Http1Parser::on_message_complete(http_parser* p) {
    auto* s = self(p);
    s->message_done_ = true;
    s->keep_alive_ = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1);
    return 0;
}

Http1Parser::Step Http1Parser::feed(const char* data, size_t size) {
    Step step;
    if (size == 0 && data) return step;  // zero bytes would mean end of stream to the parser
    headers_done_ = message_done_ = false;
    if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
    step.consumed = http_parser_execute(&parser_, &settings_, data, size);
    auto err = HTTP_PARSER_ERRNO(&parser_);
    step.error = err != HPE_OK && err != HPE_PAUSED;
    step.headers_done = headers_done_;
    step.message_done = message_done_;
    return step;
}

Http1Parser::Step Http1Parser::finish() {
    headers_done_ = message_done_ = false;
    if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
    http_parser_execute(&parser_, &settings_, nullptr, 0);
    Step step;
    step.message_done = message_done_;
    step.error = HTTP_PARSER_ERRNO(&parser_) != HPE_OK && HTTP_PARSER_ERRNO(&parser_) != HPE_PAUSED;
    return step;
}

void Http1Parser::next_message() {
    no_body_ = false;
    headers_done_ = message_done_ = false;
}

std::string Http1Parser::error() const {
    auto err = HTTP_PARSER_ERRNO(&parser_);
    return std::string(http_errno_name(err)) + ": " + http_errno_description(err);
}

std::string simple_http_response(int status, const std::string& reason, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace mrd::http
