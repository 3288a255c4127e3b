#include "http/h2.hpp"

#include <nghttp2/nghttp2.h>

#include <cstring>

namespace mrd::http {
namespace {

H2Session* self(void* user) { return static_cast<H2Session*>(user); }

std::vector<nghttp2_nv> to_nv(const H2Headers& headers) {
    std::vector<nghttp2_nv> nv;
    for (auto& [name, value] : headers)
        nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())), reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    return nv;
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen, const uint8_t* value,
              size_t valuelen, uint8_t, void* user) {
    self(user)->incoming_headers[frame->hd.stream_id].emplace_back(std::string(reinterpret_cast<const char*>(name), namelen),
                                                                  std::string(reinterpret_cast<const char*>(value), valuelen));
    return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2Session* s = self(user);
    int32_t stream = frame->hd.stream_id;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_HEADERS)) {
        H2Headers headers = std::move(s->incoming_headers[stream]);
        s->incoming_headers.erase(stream);
        bool trailers = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
        if (s->handlers.on_headers) s->handlers.on_headers(stream, std::move(headers), trailers, end);
    } else if (frame->hd.type == NGHTTP2_DATA && end) {
        if (s->handlers.on_end) s->handlers.on_end(stream);
    }
    return 0;
}

int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t len, void* user) {
    if (self(user)->handlers.on_data) self(user)->handlers.on_data(stream, reinterpret_cast<const char*>(data), len);
    return 0;
}

int on_stream_close(nghttp2_session*, int32_t stream, uint32_t error, void* user) {
    H2Session* s = self(user);
    s->outgoing.erase(stream);
    s->incoming_headers.erase(stream);
    if (s->handlers.on_close) s->handlers.on_close(stream, error);
    return 0;
}

ssize_t read_body(nghttp2_session* session, int32_t stream, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source*, void* user) {
    H2Session* s = self(user);
    auto it = s->outgoing.find(stream);
    if (it == s->outgoing.end()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    auto& out = it->second;
    size_t n = std::min(length, out.buffer.size());
    std::memcpy(buf, out.buffer.data(), n);
    out.buffer.erase(0, n);
    if (out.buffer.empty()) {
        if (!out.ended) return n ? static_cast<ssize_t>(n) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!out.trailers.empty()) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            auto nv = to_nv(out.trailers);
            nghttp2_submit_trailer(session, stream, nv.data(), nv.size());
        }
    }
    return static_cast<ssize_t>(n);
}

}  // namespace

H2Session::H2Session(Role role, Handlers h) : handlers(std::move(h)) {
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    if (role == Role::server) nghttp2_session_server_new(&session, callbacks, this);
    else nghttp2_session_client_new(&session, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 1);
}

H2Session::~H2Session() { nghttp2_session_del(session); }

Status H2Session::receive(const char* data, size_t size) {
    ssize_t n = nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(data), size);
    if (n < 0) return Error::msg(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)), EPROTO);
    return {};
}

std::string H2Session::take_output() {
    std::string out;
    for (;;) {
        const uint8_t* data;
        ssize_t n = nghttp2_session_mem_send(session, &data);
        if (n <= 0) break;
        out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
}

bool H2Session::finished() const { return !nghttp2_session_want_read(session) && !nghttp2_session_want_write(session); }

void H2Session::attach_body(int32_t stream) { outgoing[stream].provider = true; }

int32_t H2Session::request(const H2Headers& headers, bool end) {
    auto nv = to_nv(headers);
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    int32_t stream = nghttp2_submit_request(session, nullptr, nv.data(), nv.size(), end ? nullptr : &provider, this);
    if (stream > 0 && !end) attach_body(stream);
    return stream;
}

void H2Session::respond(int32_t stream, const H2Headers& headers, bool end) {
    auto nv = to_nv(headers);
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    if (!end) attach_body(stream);
    nghttp2_submit_response(session, stream, nv.data(), nv.size(), end ? nullptr : &provider);
}

void H2Session::send(int32_t stream, const char* data, size_t size) {
    auto it = outgoing.find(stream);
    if (it == outgoing.end()) return;
    it->second.buffer.append(data, size);
    nghttp2_session_resume_data(session, stream);
}

void H2Session::finish(int32_t stream, const H2Headers& trailers) {
    auto it = outgoing.find(stream);
    if (it == outgoing.end()) return;
    it->second.ended = true;
    it->second.trailers = trailers;
    nghttp2_session_resume_data(session, stream);
}

void H2Session::reset(int32_t stream, uint32_t error) { nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream, error); }

}  // namespace mrd::http
