#include "agent/filtered_h2.hpp"

#include "wire/address.hpp"
#include "base/async.hpp"
#include "http/h2.hpp"
#include "base/log.hpp"

#include <cstring>
#include <set>

namespace mrd::agent {

using namespace mrd::wire;
using namespace mrd::http;
using asio::ip::tcp;

bool starts_like_h2(const std::vector<char>& bytes) {
    size_t n = std::min(bytes.size(), sizeof kH2Preface - 1);
    return n > 0 && std::memcmp(bytes.data(), kH2Preface, n) == 0;
}

namespace {

constexpr size_t kMaxStolenBody = 8u << 20;

class FilteredH2 : public std::enable_shared_from_this<FilteredH2> {
public:
    FilteredH2(asio::io_context& io, std::shared_ptr<tcp::socket> peer, tcp::endpoint destination, FilterList filters)
        : io_(io), peer_(std::move(peer)), destination_(destination), filters_(std::move(filters)) {
        std::error_code ec;
        remote_ = peer_->remote_endpoint(ec);
        peer_out_ = std::make_shared<co::WriteQueue<tcp::socket>>(peer_);
    }

    co::Task<void> run(std::vector<char> initial) {
        auto self = shared_from_this();
        // One connection to the application serves every stream that is not stolen.
        if (auto app = co_await connect_upstream(io_, destination_)) {
            app_ = std::make_shared<tcp::socket>(std::move(*app));
            app_out_ = std::make_shared<co::WriteQueue<tcp::socket>>(app_);
            app_h2_ = std::make_unique<H2Session>(H2Session::Role::client, app_handlers());
            co::spawn(read_app(self));
        }
        peer_h2_ = std::make_unique<H2Session>(H2Session::Role::server, peer_handlers());
        bool ok = peer_h2_->receive(initial.data(), initial.size()).ok();
        flush();
        std::vector<char> buffer(64 * 1024);
        while (ok) {
            auto r = co_await co::read_some(*peer_, asio::buffer(buffer));
            if (r.error) break;
            ok = peer_h2_->receive(buffer.data(), r.bytes).ok();
            flush();
        }
        close();
    }

private:
    struct Stream {
        H2Headers headers;
        std::string body;
        bool stolen = false;
        std::weak_ptr<IncomingSink> client;
        int32_t app_stream = 0;
    };

    static co::Task<void> read_app(std::shared_ptr<FilteredH2> self) {
        std::vector<char> buffer(64 * 1024);
        for (;;) {
            auto r = co_await co::read_some(*self->app_, asio::buffer(buffer));
            if (r.error) break;
            // An HTTP/2 server's first frame is its SETTINGS (type 4); an HTTP/1 one answers with text.
            if (!self->app_spoke_h2_ && (r.bytes < 4 || buffer[3] != 0x04)) break;
            self->app_spoke_h2_ = true;
            if (!self->app_h2_->receive(buffer.data(), r.bytes).ok()) break;
            self->flush();
        }
        self->app_gone();
    }

    // The application's connection ended. One that spoke HTTP/2 and closed (an idle timeout, a
    // restart) ends the peer's too, which then reconnects as it would without mirrord. One that never
    // spoke HTTP/2 (an HTTP/1.1-only application) only fails the streams it was given: the streams
    // stolen by clients go on, and later unmatched ones get 502.
    void app_gone() {
        if (closed_) return;
        if (app_spoke_h2_) return close();
        log::debug("incoming h2: the application does not speak HTTP/2; its streams get 502");
        for (auto& [app_stream, peer] : peer_of_app_) {
            if (answered_.count(peer)) peer_h2_->reset(peer, 2);  // INTERNAL_ERROR: its response was cut
            else peer_h2_->respond(peer, {{":status", "502"}}, true);
        }
        peer_of_app_.clear();
        std::error_code ignored;
        if (app_) app_->close(ignored);
        app_h2_.reset();
        flush();
    }

    void flush() {
        if (peer_h2_) peer_out_->send(peer_h2_->take_output());
        if (app_h2_) app_out_->send(app_h2_->take_output());
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        std::error_code ignored;
        peer_->close(ignored);
        if (app_) app_->close(ignored);
    }

    H2Session::Handlers peer_handlers() {
        std::weak_ptr<FilteredH2> weak = weak_from_this();
        return {
            [weak](int32_t stream, H2Headers headers, bool trailers, bool end) {
                if (auto self = weak.lock()) self->peer_headers(stream, std::move(headers), trailers, end);
            },
            [weak](int32_t stream, const char* data, size_t n) {
                if (auto self = weak.lock()) self->peer_data(stream, data, n);
            },
            [weak](int32_t stream) {
                if (auto self = weak.lock()) self->peer_end(stream);
            },
            [weak](int32_t stream, uint32_t error) {
                auto self = weak.lock();
                if (!self) return;
                auto it = self->streams_.find(stream);
                if (it == self->streams_.end()) return;
                if (error && it->second.app_stream && self->app_h2_) self->app_h2_->reset(it->second.app_stream, error);
                self->streams_.erase(it);
            },
        };
    }

    H2Session::Handlers app_handlers() {
        std::weak_ptr<FilteredH2> weak = weak_from_this();
        auto peer_stream = [](FilteredH2& self, int32_t app_stream) {
            auto it = self.peer_of_app_.find(app_stream);
            return it == self.peer_of_app_.end() ? 0 : it->second;
        };
        return {
            [weak, peer_stream](int32_t stream, H2Headers headers, bool trailers, bool end) {
                auto self = weak.lock();
                if (!self) return;
                int32_t peer = peer_stream(*self, stream);
                if (!peer) return;
                if (trailers) {
                    self->peer_h2_->finish(peer, headers);
                } else {
                    self->answered_.insert(peer);
                    self->peer_h2_->respond(peer, headers, end);
                }
            },
            [weak, peer_stream](int32_t stream, const char* data, size_t n) {
                auto self = weak.lock();
                if (int32_t peer = self ? peer_stream(*self, stream) : 0) self->peer_h2_->send(peer, data, n);
            },
            [weak, peer_stream](int32_t stream) {
                auto self = weak.lock();
                if (int32_t peer = self ? peer_stream(*self, stream) : 0) self->peer_h2_->finish(peer);
            },
            [weak, peer_stream](int32_t stream, uint32_t error) {
                auto self = weak.lock();
                if (!self) return;
                int32_t peer = peer_stream(*self, stream);
                if (peer && error) self->peer_h2_->reset(peer, error);
                self->peer_of_app_.erase(stream);
            },
        };
    }

    void peer_headers(int32_t id, H2Headers headers, bool trailers, bool end) {
        Stream& s = streams_[id];
        if (trailers) {
            if (!s.stolen && s.app_stream && app_h2_) app_h2_->finish(s.app_stream, headers);
            return;
        }
        HttpHead head;
        for (auto& [name, value] : headers) {
            if (name == ":method") head.method = value;
            else if (name == ":path") head.target = value;
            else if (name[0] != ':') head.headers.emplace_back(name, value);
        }
        for (auto& [sink, matcher] : filters_)
            if (matcher.matches(head) && sink.lock()) {
                s.stolen = true;
                s.client = sink;
                break;
            }
        s.headers = std::move(headers);
        if (s.stolen) {
            if (end) steal(id);
            return;
        }
        if (!app_h2_) {
            peer_h2_->respond(id, {{":status", "502"}}, true);
            return;
        }
        s.app_stream = app_h2_->request(s.headers, end);
        peer_of_app_[s.app_stream] = id;
    }

    void peer_data(int32_t id, const char* data, size_t n) {
        auto it = streams_.find(id);
        if (it == streams_.end()) return;
        Stream& s = it->second;
        if (!s.stolen) {
            if (s.app_stream && app_h2_) app_h2_->send(s.app_stream, data, n);
        } else if (s.body.size() + n > kMaxStolenBody) {
            peer_h2_->respond(id, {{":status", "413"}}, true);
        } else {
            s.body.append(data, n);
        }
    }

    void peer_end(int32_t id) {
        auto it = streams_.find(id);
        if (it == streams_.end()) return;
        if (it->second.stolen) steal(id);
        else if (it->second.app_stream && app_h2_) app_h2_->finish(it->second.app_stream);
    }

    void steal(int32_t id) { co::spawn(deliver(shared_from_this(), id)); }

    // The whole request to the client; its response back on the stream.
    static co::Task<void> deliver(std::shared_ptr<FilteredH2> self, int32_t id) {
        Stream& s = self->streams_[id];
        auto client = s.client.lock();
        std::optional<HttpResponse> response;
        if (client) {
            if (!self->conn_) self->conn_ = client->new_incoming_id();
            HttpRequest request{self->conn_, static_cast<uint64_t>(id), self->destination_.port(), from_endpoint(self->remote_),
                                {}, 2, s.headers, bytes_of(s.body)};
            response = co_await client->http(std::move(request));
        }
        if (self->closed_) co_return;
        if (!response || response->headers.empty()) {
            self->peer_h2_->respond(id, {{":status", "502"}}, true);
        } else {
            bool end = response->body.empty() && response->trailers.empty();
            self->peer_h2_->respond(id, response->headers, end);
            if (!end) {
                self->peer_h2_->send(id, response->body.data(), response->body.size());
                self->peer_h2_->finish(id, response->trailers);
            }
        }
        self->flush();
    }

    asio::io_context& io_;
    std::shared_ptr<tcp::socket> peer_, app_;
    std::shared_ptr<co::WriteQueue<tcp::socket>> peer_out_, app_out_;
    tcp::endpoint destination_, remote_;
    FilterList filters_;
    std::unique_ptr<H2Session> peer_h2_, app_h2_;
    std::map<int32_t, Stream> streams_;
    std::map<int32_t, int32_t> peer_of_app_;
    std::set<int32_t> answered_;  // peer streams the application's response has begun on
    uint64_t conn_ = 0;
    bool closed_ = false, app_spoke_h2_ = false;
};

}  // namespace

co::Task<void> serve_filtered_h2(asio::io_context& io, std::shared_ptr<tcp::socket> peer, tcp::endpoint destination,
                                 FilterList filters, std::vector<char> initial) {
    auto connection = std::make_shared<FilteredH2>(io, std::move(peer), destination, std::move(filters));
    co_await connection->run(std::move(initial));
}

}  // namespace mrd::agent
