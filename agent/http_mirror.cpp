#include "agent/http_mirror.hpp"

#include "agent/filtered_h2.hpp"
#include "wire/address.hpp"
#include "http/h2.hpp"
#include "base/log.hpp"

namespace mrd::agent {

using namespace mrd::wire;
using namespace mrd::http;

namespace {
constexpr size_t kMaxMirroredRequest = 8u << 20;  // as for stolen requests: one message each
}  // namespace

HttpMirrorTap::HttpMirrorTap(asio::io_context& io, std::shared_ptr<IncomingSink> sink, uint16_t port, asio::ip::tcp::endpoint peer,
                             asio::ip::tcp::endpoint local, HttpMatcher filter)
    : io_(io), sink_(sink), port_(port), peer_(peer), local_(local), filter_(std::move(filter)) {}

void HttpMirrorTap::to_raw(const char* more, size_t n) {
    if (!filter_.empty()) {
        mode_ = Mode::off;
        return;
    }
    auto sink = sink_.lock();
    if (!sink) {
        mode_ = Mode::off;
        return;
    }
    mode_ = Mode::raw;
    raw_ = MirrorTap::open(io_, sink, port_, peer_, local_);
    raw_->copy(request_.data(), request_.size());  // the current request's bytes so far, then the rest
    raw_->copy(more, n);
    request_.clear();
}

void HttpMirrorTap::copy(const char* data, size_t n) {
    if (mode_ == Mode::raw) return raw_->copy(data, n);
    if (mode_ == Mode::off) return;
    if (mode_ == Mode::detecting) {
        // HTTP/2 with prior knowledge starts with its preface, which HTTP/1's parser would take for a request.
        detected_.insert(detected_.end(), data, data + n);
        if (starts_like_h2(detected_)) {
            if (detected_.size() >= sizeof kH2Preface - 1) {
                to_raw(detected_.data(), detected_.size());
                detected_.clear();
            }
            return;
        }
        mode_ = Mode::http;
        std::vector<char> all = std::move(detected_);
        return feed(all.data(), all.size());
    }
    feed(data, n);
}

void HttpMirrorTap::feed(const char* data, size_t n) {
    size_t used = 0;
    while (used < n && mode_ == Mode::http) {
        auto step = parser_.feed(data + used, n - used);
        if (step.error) {
            // Not HTTP/1 from the start: a copy byte for byte. Past the first request: no copy.
            if (sequence_ == 0) return to_raw(data + used, n - used);
            log::debug("mirror: the peer's bytes stopped being HTTP/1 (", parser_.error(), "); its copy ends");
            mode_ = Mode::off;
            return;
        }
        if (!oversized_) request_.insert(request_.end(), data + used, data + used + step.consumed);
        if (request_.size() > kMaxMirroredRequest) {
            oversized_ = true;
            request_.clear();
        }
        used += step.consumed;
        if (step.headers_done && parser_.upgrade()) return to_raw(data + used, n - used);
        if (step.message_done) dispatch();
    }
}

void HttpMirrorTap::dispatch() {
    uint64_t sequence = sequence_++;
    bool wanted = !oversized_ && (filter_.empty() || filter_.matches(parser_.head()));
    if (oversized_) log::debug("mirror: a request over ", kMaxMirroredRequest, " bytes is not copied");
    if (wanted)
        if (auto sink = sink_.lock()) {
            if (!conn_) conn_ = sink->new_incoming_id();
            HttpRequest copy{conn_, sequence, port_, from_endpoint(peer_), bytes_of(request_)};
            copy.mirrored = true;
            if (auto out = sink->outbox().lock()) out->send(0, std::move(copy));
        }
    request_.clear();
    oversized_ = false;
    parser_.next_message();
}

void HttpMirrorTap::eof() {
    if (raw_) raw_->eof();
    else if (mode_ == Mode::http && !request_.empty() && parser_.finish().message_done) dispatch();
}

void HttpMirrorTap::finish() {
    if (raw_) raw_->finish();
}

void HttpMirrorTap::close(int code) {
    if (raw_) raw_->close(code);
    mode_ = Mode::off;
}

}  // namespace mrd::agent
