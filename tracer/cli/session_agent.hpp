// The agent a session talks to: one given by address (--agent), one started here next to a local
// target (pid/N, container/NAME, targetless), or one started in a cluster and reached through a
// port-forward. Whatever was started lives as long as this object.
#pragma once

#include "k8s/port_forward.hpp"
#include "tracer/policy/config.hpp"
#include "tracer/remote/agent_client.hpp"
#include "tracer/cli/local_agent.hpp"

#include <asio.hpp>

#include <functional>
#include <optional>

namespace mrd::tracer {

class SessionAgent {
public:
    // The address to connect to. given: the user's --agent, if any.
    Result<std::string> start(const Config& config, const std::string& given, asio::io_context& io);
    std::optional<LocalAgent>& local() { return local_; }
    // For a TCP link (a cluster agent, or --agent tcp:...): the pins; null for a unix socket.
    const AgentTls* tls() const { return tls_ ? &*tls_ : nullptr; }
    // The session is over: a port-forward stops (its connections' coroutines end).
    void stop() {
        if (forward_) forward_->stop();
    }
    // Connects `client` to the agent at `address` as the config says: the timeouts, the reconnect
    // budget, the pins, and what to say when a port-forward is what failed.
    co::Task<Status> connect(AgentClient& client, const Config& config, const std::string& address) const;

private:
    std::optional<LocalAgent> local_;
    std::optional<k8s::PortForward> forward_;  // holds the cluster agent's lease too
    std::optional<AgentTls> tls_;
};

// A command without a program (diagnose, port-forward, dump): the agent started and connected, then
// `body`; Ctrl-C, SIGTERM and SIGHUP end it through the cleanup (they are held while a cluster
// agent starts, which notices them and deletes its Job), and so does the agent's loss.
class CommandSession {
public:
    CommandSession(const Config& config, std::string agent_address);
    asio::io_context& io() { return io_; }
    AgentClient& agent() { return agent_; }
    // Runs until a signal (0), the agent's loss or failure to start (1), or finish(status).
    int run(std::function<co::Task<void>()> body);
    void finish(int status);
    // Runs when the session ends, before its waits are drained: closes what the body opened.
    void at_end(std::function<void()> cleanup) { at_end_.push_back(std::move(cleanup)); }

private:
    const Config& config_;
    std::string agent_address_;
    asio::io_context io_;
    asio::signal_set signals_{io_};
    SessionAgent agent_process_;
    AgentClient agent_{io_};
    std::function<co::Task<void>()> body_;
    std::vector<std::function<void()>> at_end_;
    int status_ = 0;
};

}  // namespace mrd::tracer
