#include "http/h2.hpp"

#include <catch2/catch.hpp>

using namespace mrd::http;

TEST_CASE("h2: a request with a body and a response with trailers, between two sessions in memory") {
    H2Headers server_saw, client_saw, client_trailers;
    std::string server_body, client_body;
    bool server_end = false, client_end = false;
    H2Session* server_ptr = nullptr;
    H2Session server(H2Session::Role::server, {
        [&](int32_t, H2Headers h, bool, bool end) { server_saw = h; server_end = end; },
        [&](int32_t, const char* d, size_t n) { server_body.append(d, n); },
        [&](int32_t stream) {
            server_end = true;
            server_ptr->respond(stream, {{":status", "200"}, {"content-type", "application/grpc"}}, false);
            server_ptr->send(stream, "pong", 4);
            server_ptr->finish(stream, {{"grpc-status", "0"}});
        },
        {}});
    server_ptr = &server;
    H2Session client(H2Session::Role::client, {
        [&](int32_t, H2Headers h, bool trailers, bool end) {
            (trailers ? client_trailers : client_saw) = h;
            if (end) client_end = true;
        },
        [&](int32_t, const char* d, size_t n) { client_body.append(d, n); },
        [&](int32_t) { client_end = true; },
        {}});
    int32_t stream = client.request({{":method", "POST"}, {":path", "/svc/Ping"}, {":scheme", "http"}, {":authority", "pod"}}, false);
    REQUIRE(stream > 0);
    client.send(stream, "ping", 4);
    client.finish(stream);
    for (int round = 0; round < 10; ++round) {  // shuttle bytes until quiet
        std::string c = client.take_output(), s = server.take_output();
        if (c.empty() && s.empty()) break;
        REQUIRE(server.receive(c.data(), c.size()).ok());
        REQUIRE(client.receive(s.data(), s.size()).ok());
    }
    CHECK(server_saw.front() == std::pair<std::string, std::string>{":method", "POST"});
    CHECK(server_body == "ping");
    CHECK(server_end);
    CHECK(client_saw.front() == std::pair<std::string, std::string>{":status", "200"});
    CHECK(client_body == "pong");
    CHECK(client_trailers == H2Headers{{"grpc-status", "0"}});
    CHECK(client_end);
    H2Session fresh(H2Session::Role::server, {});
    CHECK_FALSE(fresh.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27).ok());  // no preface: not HTTP/2
}
