// Port-forwarding to the agent's pod through the API server, over its WebSocket port-forward
// protocol (subprotocol v4.channel.k8s.io: binary frames whose first byte is the channel, 0 for
// data and 1 for errors; each channel's first frame from the server carries the port). Offered as a
// local TCP address, so the agent client connects to it like to any agent.
#pragma once

#include "k8s/agent_pod.hpp"
#include "k8s/api_client.hpp"
#include "base/co.hpp"

#include <asio.hpp>

#include <functional>
#include <map>
#include <memory>

namespace mrd::k8s {

class PortForward {
public:
    PortForward(asio::io_context& io, std::shared_ptr<ApiClient> api, AgentPod pod)
        : io_(io), api_(std::move(api)), pod_(std::move(pod)), acceptor_(io) {}
    // Starts listening on 127.0.0.1; the address to give the agent client ("tcp:127.0.0.1:PORT").
    Result<std::string> listen();
    // Why the last forwarded connection failed (the API server refused, could not be reached...).
    const std::string& last_error() const { return last_error_; }
    // Stops accepting and closes every forwarded connection (their coroutines end).
    void stop();

private:
    co::Task<void> accept_loop();
    co::Task<void> serve(asio::ip::tcp::socket local);
    co::Task<Status> forward(asio::ip::tcp::socket& local, uint64_t id);

    asio::io_context& io_;
    std::shared_ptr<ApiClient> api_;
    AgentPod pod_;
    asio::ip::tcp::acceptor acceptor_;
    std::string last_error_;
    std::map<uint64_t, std::function<void()>> live_;  // closes a forwarded connection, by id
    uint64_t next_id_ = 1;
};

// WebSocket framing, exposed for tests.
namespace websocket {
std::string client_frame(uint8_t opcode, const std::string& payload);  // masked, FIN set
struct Frame {
    uint8_t opcode = 0;
    bool fin = true;
    std::string payload;
};
// Parses one server frame from the front of buffer (erasing it); nullopt when incomplete.
std::optional<Frame> take_frame(std::string& buffer);
std::string accept_key(const std::string& key);  // Sec-WebSocket-Accept for a Sec-WebSocket-Key
}  // namespace websocket

}  // namespace mrd::k8s
