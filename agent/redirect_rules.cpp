#include "agent/redirect_rules.hpp"

#include "base/log.hpp"

#include <nftables/libnftables.h>
#include <signal.h>

#include <sstream>

namespace mrd::agent {
namespace {

struct Context {
    nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    Context() {
        if (!ctx) return;
        nft_ctx_buffer_output(ctx);
        nft_ctx_buffer_error(ctx);
    }
    ~Context() { if (ctx) nft_ctx_free(ctx); }
};

Result<std::string> run_with_output(const std::string& commands) {
    Context c;
    if (!c.ctx) return Error::msg("nftables: cannot create a context", ENOMEM);
    if (nft_run_cmd_from_buffer(c.ctx, commands.c_str()) != 0) {
        std::string err = nft_ctx_get_error_buffer(c.ctx);
        while (!err.empty() && err.back() == '\n') err.pop_back();
        return Error::msg("nftables: " + err, EPERM);
    }
    return std::string(nft_ctx_get_output_buffer(c.ctx));
}

}  // namespace

RedirectRules::RedirectRules(pid_t owner) : owner_(owner) {}

Status RedirectRules::run(const std::string& commands) {
    auto out = run_with_output(commands);
    if (!out) return out.error();
    return {};
}

Result<std::unique_ptr<RedirectRules>> RedirectRules::create(pid_t owner) {
    // Leftovers: tables of agents that died without cleaning up (e.g. SIGKILL of agent and guard).
    if (auto tables = run_with_output("list tables inet")) {
        std::istringstream in(*tables);
        for (std::string line; std::getline(in, line);) {
            const std::string prefix = "table inet mirrord_";
            if (line.rfind(prefix, 0) != 0) continue;
            pid_t pid = static_cast<pid_t>(std::atol(line.c_str() + prefix.size()));
            if (pid > 0 && pid != owner && ::kill(pid, 0) != 0 && errno == ESRCH) {
                log::info("removing the redirect rules of agent ", pid, ", which is gone");
                (void)remove_table(pid);
            }
        }
    }
    std::string t = "inet " + table_name(owner);
    std::string commands = "add table " + t + "\n"
        "add chain " + t + " prerouting { type nat hook prerouting priority -110 ; policy accept ; }\n"
        "add chain " + t + " output { type nat hook output priority -110 ; policy accept ; }\n";
    if (auto st = run(commands); !st) return st.error().context("setting up incoming traffic redirection");
    return std::unique_ptr<RedirectRules>(new RedirectRules(owner));
}

RedirectRules::~RedirectRules() { (void)remove_table(owner_); }

Status RedirectRules::apply(const std::map<uint16_t, uint16_t>& redirects) {
    std::string t = "inet " + table_name(owner_);
    std::ostringstream commands;
    commands << "flush chain " << t << " prerouting\nflush chain " << t << " output\n";
    char mark[16];
    std::snprintf(mark, sizeof mark, "0x%08x", kBypassMark);
    for (auto [port, to] : redirects) {
        commands << "add rule " << t << " prerouting meta mark != " << mark << " tcp dport " << port << " redirect to :" << to << "\n";
        commands << "add rule " << t << " output oifname \"lo\" meta mark != " << mark << " tcp dport " << port << " redirect to :" << to << "\n";
    }
    return run(commands.str());
}

Status RedirectRules::remove_table(pid_t owner) {
    return run("delete table inet " + table_name(owner) + "\n");
}

}  // namespace mrd::agent
