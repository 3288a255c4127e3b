#include "tracer/cli/diagnose_command.hpp"

#include "tracer/remote/agent_client.hpp"
#include "tracer/cli/session_agent.hpp"
#include "base/log.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace mrd::tracer {

namespace {

constexpr int kPings = 100;

double milliseconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int diagnose_latency(const Config& config, const std::string& agent_address) {
    CommandSession session(config, agent_address);
    AgentClient& agent = session.agent();
    return session.run([&]() -> co::Task<void> {
        std::vector<double> rtts;
        for (int i = 0; i <= kPings; ++i) {
            auto start = std::chrono::steady_clock::now();
            auto pong = reply_as<wire::Pong>(co_await agent.call<wire::Ping>());
            if (!pong) {
                log::error("the agent did not answer a ping: ", pong.error().message);
                co_return session.finish(1);
            }
            if (i > 0) rtts.push_back(milliseconds(std::chrono::steady_clock::now() - start));  // the first warms up
        }
        double sum = std::accumulate(rtts.begin(), rtts.end(), 0.0);
        std::printf("Latency statistics: min=%.3fms, max=%.3fms, avg=%.3fms (%d round trips to the agent)\n",
                    *std::min_element(rtts.begin(), rtts.end()), *std::max_element(rtts.begin(), rtts.end()), sum / rtts.size(),
                    kPings);
        session.finish(0);
    });
}

}  // namespace mrd::tracer
