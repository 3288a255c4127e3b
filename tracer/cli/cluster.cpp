#include "tracer/cli/cluster.hpp"

#include "k8s/agent_pod.hpp"
#include "k8s/targets.hpp"
#include "base/log.hpp"

#include <signal.h>
#include <unistd.h>

#include <iostream>

namespace mrd::tracer {

namespace {

Result<std::shared_ptr<k8s::ApiClient>> connect_api(const Config& config) {
    auto credentials = k8s::load_kubeconfig({config.kubeconfig, config.kube_context});
    if (!credentials) return credentials.error().context("kubeconfig");
    return k8s::ApiClient::create(*credentials, config.accept_invalid_certificates);
}

// Progress on the terminal: one line rewritten in place, or plain lines when not a terminal.
void progress(const std::string& state) {
    static const char* frames[] = {"|", "/", "-", "\\"};
    static int frame = 0;
    if (::isatty(STDERR_FILENO)) std::cerr << "\r\033[K" << frames[frame++ % 4] << " mirrord: " << state << std::flush;
    else log::info(state);
}

// Ctrl-C, SIGTERM or a hang-up while starting (the supervisor keeps them blocked until it reads them).
bool interrupted() {
    sigset_t pending;
    ::sigpending(&pending);
    return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGHUP) == 1;
}

void progress_done() {
    if (::isatty(STDERR_FILENO)) std::cerr << "\r\033[K" << std::flush;
}

Result<ClusterAgent> start_cluster_agent_unchecked(const Config& config, asio::io_context& io, std::optional<k8s::PortForward>& forward,
                                                   const std::string& client_fingerprint);

}  // namespace

Result<ClusterAgent> start_cluster_agent(const Config& config, asio::io_context& io, std::optional<k8s::PortForward>& forward,
                                         const std::string& client_fingerprint) {
    try {
        return start_cluster_agent_unchecked(config, io, forward, client_fingerprint);
    } catch (const nlohmann::json::exception& e) {
        progress_done();
        return Error::msg(std::string("unexpected response from the Kubernetes API: ") + e.what(), EPROTO);
    }
}

namespace {

Result<ClusterAgent> start_cluster_agent_unchecked(const Config& config, asio::io_context& io, std::optional<k8s::PortForward>& forward,
                                                   const std::string& client_fingerprint) {
    auto spec = k8s::parse_target(config.target.path);
    if (!spec) return spec.error();
    auto api = connect_api(config);
    if (!api) return api.error();
    std::string ns = config.target.namespace_.empty() ? (*api)->credentials().namespace_ : config.target.namespace_;
    if (spec->kind == "targetless") return Error::msg("targetless sessions in a cluster are not supported yet; pick a target", ENOTSUP);
    progress("resolving " + config.target.path + " in namespace " + ns);
    auto target = k8s::resolve_target(**api, *spec, ns);
    if (!target) {
        progress_done();
        return target.error().context("target " + config.target.path);
    }
    progress("starting the agent for pod/" + target->pod + " (container " + target->container + ")");
    auto agent = k8s::start_agent(*api, *target, config.agent, {progress, interrupted}, client_fingerprint);
    progress_done();
    if (!agent) return agent.error();
    log::info("agent ", agent->pod, " is running in namespace ", agent->namespace_);
    forward.emplace(io, *api, *agent);
    auto address = forward->listen();
    if (!address) return address.error();
    return ClusterAgent{*address, agent->fingerprint};
}

}  // namespace

int list_targets_command(const Config& config, bool as_json) {
    auto api = connect_api(config);
    if (!api) {
        std::cerr << "mirrord ls: " << api.error().message << "\n";
        return 1;
    }
    std::string ns = config.target.namespace_.empty() ? (*api)->credentials().namespace_ : config.target.namespace_;
    Result<std::vector<std::string>> targets = Error::msg("", 0);
    try {
        targets = k8s::list_targets(**api, ns);
    } catch (const nlohmann::json::exception& e) {
        targets = Error::msg(std::string("unexpected response from the Kubernetes API: ") + e.what(), EPROTO);
    }
    if (!targets) {
        std::cerr << "mirrord ls: " << targets.error().message << "\n";
        return 1;
    }
    if (as_json) std::cout << nlohmann::json(*targets).dump() << "\n";
    else for (auto& t : *targets) std::cout << t << "\n";
    return 0;
}

}  // namespace mrd::tracer
