#include "tracer/cli/session_agent.hpp"

#include "k8s/targets.hpp"
#include "tracer/cli/cluster.hpp"
#include "base/text_file.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

namespace mrd::tracer {

Result<wire::TlsIdentity> load_identity(const std::string& path) {
    auto pem = read_file(path);
    if (!pem) return pem.error();
    auto key = pem->find("-----BEGIN PRIVATE KEY-----");
    if (key == std::string::npos) return Error::msg(path + " holds no private key (make one with mirrord-agent --make-identity)", EINVAL);
    wire::TlsIdentity id;
    id.certificate_pem = pem->substr(0, key);
    id.key_pem = pem->substr(key);
    id.fingerprint = wire::certificate_fingerprint(id.certificate_pem);
    if (id.fingerprint.empty()) return Error::msg(path + " holds no certificate", EINVAL);
    return id;
}

Result<std::string> SessionAgent::start(const Config& config, const std::string& given, asio::io_context& io) {
    if (!given.empty()) {
        if (given.rfind("unix:", 0) == 0) return given;
        // An agent started by hand on TCP: its fingerprint, and the identity it was told to expect.
        if (config.agent_fingerprint.empty() || config.agent_identity.empty())
            return Error::msg("--agent " + given + ": a TCP agent needs --agent-fingerprint (from its ready line) and "
                              "--agent-identity (the file whose fingerprint it was given)", EINVAL);
        auto identity = load_identity(config.agent_identity);
        if (!identity) return identity.error().context("--agent-identity");
        tls_ = AgentTls{std::move(*identity), config.agent_fingerprint};
        return given;
    }
    const std::string& target = config.target.path;
    if (k8s::is_kubernetes_target(target)) {
        auto self = wire::TlsIdentity::generate("mirrord-session");  // fresh for every session
        if (!self) return self.error();
        auto agent = start_cluster_agent(config, io, forward_, self->fingerprint);
        if (!agent) return agent.error();
        tls_ = AgentTls{std::move(*self), agent->fingerprint};
        return agent->address;
    }
    pid_t pid = 0;
    if (target.rfind("pid/", 0) == 0) {
        char* end = nullptr;
        long n = std::strtol(target.c_str() + 4, &end, 10);
        if (n <= 0 || *end) return Error::msg("target '" + target + "': expected pid/<number>", EINVAL);
        if (::kill(static_cast<pid_t>(n), 0) != 0 && errno == ESRCH)
            return Error::msg("target '" + target + "': no such process", ESRCH);
        pid = static_cast<pid_t>(n);
    } else if (target.rfind("container/", 0) == 0) {
        auto p = container_pid(target.substr(10));
        if (!p) return p.error().context("target '" + target + "'");
        pid = *p;
    } else if (!target.empty() && target != "targetless") {
        return Error::msg("unknown target '" + target + "' (pid/N, container/NAME, targetless, or a Kubernetes target "
                          "such as pod/x, deploy/x)", EINVAL);
    }
    if (pid && ::geteuid() != 0)
        return Error::msg("entering the namespaces of pid " + std::to_string(pid) + " needs root", EPERM);
    auto started = LocalAgent::start(pid, config.agent.log_level == "info" ? "warn" : config.agent.log_level,
                                     std::chrono::seconds(config.agent.startup_timeout));
    if (!started) return started.error().context("starting the agent");
    local_.emplace(std::move(*started));
    return local_->address();
}

co::Task<Status> SessionAgent::connect(AgentClient& client, const Config& config, const std::string& address) const {
    client.set_reconnect_budget(std::chrono::seconds(config.agent.reconnect_timeout));
    // Why the way to the agent failed, where the connection cannot tell (a port-forward's refusal).
    client.set_link_diagnosis([this] { return forward_ ? forward_->last_error() : std::string(); });
    co_return co_await client.connect(address, std::chrono::seconds(config.agent.communication_timeout), tls());
}

namespace {

sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    return set;
}

}  // namespace

CommandSession::CommandSession(const Config& config, std::string agent_address)
    : config_(config), agent_address_(std::move(agent_address)) {
    sigset_t set = stop_signals();
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
}

void CommandSession::finish(int status) {
    status_ = status;
    io_.stop();
}

int CommandSession::run(std::function<co::Task<void>()> body) {
    auto address = agent_process_.start(config_, agent_address_, io_);
    if (!address) {
        log::error(address.error().message);
        return 1;
    }
    for (int s : {SIGINT, SIGTERM, SIGHUP}) signals_.add(s);
    signals_.async_wait([this](std::error_code ec, int) {
        if (!ec) finish(0);
    });
    sigset_t set = stop_signals();
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);  // one that came meanwhile is delivered now
    agent_.on_lost([this] { finish(1); });
    body_ = std::move(body);  // kept: a coroutine lambda must outlive its coroutine
    auto start = [this, address = *address]() -> co::Task<void> {
        if (auto st = co_await agent_process_.connect(agent_, config_, address); !st) {
            log::error(st.error().message);
            co_return finish(1);
        }
        co_await body_();
    };
    co::spawn(start());
    io_.run();
    agent_.close();
    agent_process_.stop();
    for (auto& cleanup : at_end_) cleanup();
    co::drain(io_);
    return status_;
}

}  // namespace mrd::tracer
