// The CLI's side of the agent link against a stand-in agent: what it says when the agent is not
// one it can talk to.
#include "tracer/remote/agent_client.hpp"
#include "wire/session.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

using namespace mrd;
using namespace mrd::tracer;
namespace fs = std::filesystem;

TEST_CASE("agent client: an agent of another protocol version is refused, naming the agent image to use") {
    asio::io_context io;
    fs::path socket_path = fs::temp_directory_path() / ("mrd-old-agent-" + std::to_string(::getpid()) + ".sock");
    fs::remove(socket_path);
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(socket_path.string()));
    std::shared_ptr<wire::Session> old_agent;
    acceptor.async_accept([&](std::error_code ec, asio::local::stream_protocol::socket s) {
        REQUIRE_FALSE(ec);
        old_agent = wire::Session::create(wire::Session::Socket(std::move(s)), {[&](wire::Envelope&& e) {
            old_agent->send(e.id, wire::ErrorReply{EPROTO, "protocol version 2 is not supported; this agent speaks 1"});
        }, {}});
        old_agent->start();
    });
    AgentClient client(io);
    std::optional<Status> outcome;
    co::spawn([](AgentClient& c, std::string address, std::optional<Status>& out) -> co::Task<void> {
        out = co_await c.connect(address, std::chrono::seconds(5), nullptr);
    }(client, "unix:" + socket_path.string(), outcome));
    while (!outcome && io.run_one()) {}
    REQUIRE(outcome.has_value());
    REQUIRE_FALSE(outcome->ok());
    CHECK_THAT(outcome->error().message, Catch::Contains("needs the agent built with it: agent.image mirrord-ptrace-agent:" MIRRORD_VERSION));
    CHECK_THAT(outcome->error().message, Catch::Contains("this agent speaks 1"));
    client.close();
    fs::remove(socket_path);
}
