#include "tracer/diagnose_command.hpp"

#include "tracer/agent_client.hpp"
#include "tracer/session_agent.hpp"
#include "wire/log.hpp"

#include <signal.h>

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
    asio::io_context io;
    StopSignals stop(io);  // Ctrl-C ends it through the cleanup (a cluster agent's Job is deleted)
    SessionAgent session;
    auto address = session.start(config, agent_address, io);
    if (!address) {
        log::error(address.error().message);
        return 1;
    }
    AgentClient agent(io);
    int status = 1;
    stop.on_stop([&] { io.stop(); });
    auto run = [&]() -> co::Task<void> {
        if (auto st = co_await agent.connect(*address, std::chrono::seconds(config.agent.communication_timeout)); !st) {
            log::error(st.error().message);
            io.stop();
            co_return;
        }
        std::vector<double> rtts;
        for (int i = 0; i <= kPings; ++i) {
            auto start = std::chrono::steady_clock::now();
            auto pong = reply_as<wire::Pong>(co_await agent.call<wire::Ping>());
            if (!pong) {
                log::error("the agent did not answer a ping: ", pong.error().message);
                io.stop();
                co_return;
            }
            if (i > 0) rtts.push_back(milliseconds(std::chrono::steady_clock::now() - start));  // the first warms up
        }
        double sum = std::accumulate(rtts.begin(), rtts.end(), 0.0);
        std::printf("Latency statistics: min=%.3fms, max=%.3fms, avg=%.3fms (%d round trips to the agent)\n",
                    *std::min_element(rtts.begin(), rtts.end()), *std::max_element(rtts.begin(), rtts.end()), sum / rtts.size(),
                    kPings);
        status = 0;
        agent.close();
        io.stop();
    };
    co::spawn(run());
    io.run();
    return status;
}

}  // namespace mrd::tracer
