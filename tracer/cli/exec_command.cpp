#include "tracer/cli/exec_command.hpp"

#include "tracer/remote/agent_client.hpp"
#include "tracer/policy/environment.hpp"
#include "tracer/syscalls/file_syscalls.hpp"
#include "tracer/gdb/gdb_server.hpp"
#include "tracer/gdb/lldb_server_stand_in.hpp"
#include "tracer/syscalls/identity_syscalls.hpp"
#include "tracer/syscalls/incoming_traffic.hpp"
#include "tracer/remote/interceptors.hpp"
#include "tracer/cli/session_agent.hpp"
#include "tracer/cli/session_feed.hpp"
#include "tracer/remote/session_report.hpp"
#include "tracer/syscalls/net_syscalls.hpp"
#include "tracer/ptrace/seccomp_filter.hpp"
#include "tracer/ptrace/spawn.hpp"
#include "tracer/remote/remote_fs.hpp"
#include "tracer/ptrace/supervisor.hpp"
#include "base/log.hpp"
#include "wire/resolv_conf.hpp"
#include "base/temp_dir.hpp"
#include "base/text_file.hpp"
#include "wire/address.hpp"
#include "base/async.hpp"

#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <sys/resource.h>
#include <cstdlib>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace mrd::tracer {

using namespace mrd::wire;

namespace {

// command[0] as execvp would find it, with the program's PATH.
Result<std::string> resolve_program(const std::string& name, const EnvMap& env) {
    if (name.find('/') != std::string::npos) return name;
    auto it = env.find("PATH");
    std::istringstream dirs(it == env.end() ? "/usr/local/bin:/usr/bin:/bin" : it->second);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        struct stat st{};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return Error::msg(name + ": command not found", ENOENT);
}

// MIRRORD_FS_BY_RANGE_MB: remote files of at least this many MiB that the program only reads are
// served by range as it reads them instead of copied whole first (0: always copy whole).
Result<uint64_t> by_range_size() {
    constexpr uint64_t kDefaultMiB = 64;
    const char* given = std::getenv("MIRRORD_FS_BY_RANGE_MB");
    if (!given || !*given) return kDefaultMiB << 20;
    char* end = nullptr;
    errno = 0;
    unsigned long long mib = std::strtoull(given, &end, 10);
    if (*end || errno || given[0] == '-' || mib > (1ull << 40))
        return Error::msg(std::string("MIRRORD_FS_BY_RANGE_MB must be a number of MiB (0: never), not '") + given + "'", EINVAL);
    return static_cast<uint64_t>(mib) << 20;
}

std::vector<std::string> local_nameservers() { return parse_resolv_conf(read_file("/etc/resolv.conf").value_or("")).nameservers; }

// Our nsswitch.conf with "hosts: files dns": glibc must not ask a local resolver daemon (nss-resolve,
// mdns) behind our back when names are the target's.
std::string nsswitch_for_remote_dns() {
    std::ifstream in("/etc/nsswitch.conf");
    std::string out, line;
    bool replaced = false;
    while (std::getline(in, line)) {
        if (line.rfind("hosts:", 0) == 0) {
            line = "hosts: files dns";
            replaced = true;
        }
        out += line + "\n";
    }
    if (!replaced) out += "hosts: files dns\n";
    return out;
}

std::vector<std::string> local_lookup(const std::string& name) {
    std::vector<std::string> out;
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (::getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) return out;
    for (auto* ai = res; ai; ai = ai->ai_next)
        if (auto a = from_sockaddr(ai->ai_addr, ai->ai_addrlen)) out.push_back(a->ip);
    ::freeaddrinfo(res);
    return out;
}

// What mirrord's built-in local paths are relative to.
FsPolicy::Context fs_context(const std::string& program, const EnvMap& env) {
    FsPolicy::Context ctx;
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd)) ctx.cwd = cwd;
    if (auto home = env.find("HOME"); home != env.end()) ctx.home = home->second;
    char real[PATH_MAX];
    ctx.executable = ::realpath(program.c_str(), real) ? real : program;
    const char* tmp = std::getenv("TMPDIR");
    ctx.temp_dir = tmp && *tmp ? tmp : "/tmp";
    return ctx;
}

// gdb in this terminal, connected to our GDB server.
Result<pid_t> start_gdb(const std::string& address, const std::string& program) {
    const char* env = std::getenv("MIRRORD_GDB");
    return spawn_process({env && *env ? env : "gdb", "-q", "-ex", "target remote " + address, program});
}

// Seccomp user notification with ADDFD_FLAG_SEND (5.14) answers the trapped syscalls.
Status check_kernel() {
    utsname names{};
    int major = 0, minor = 0;
    if (::uname(&names) != 0 || std::sscanf(names.release, "%d.%d", &major, &minor) != 2) return {};
    if (major > 5 || (major == 5 && minor >= 14)) return {};
    return Error::msg(std::string("Linux ") + names.release + " is too old: mirrord needs 5.14 or newer (seccomp user notification)", ENOSYS);
}

nlohmann::json session_about(const ExecOptions& options) {
    std::string command;
    for (auto& word : options.command) command += (command.empty() ? "" : " ") + word;
    std::string target = !options.config.target.path.empty() ? options.config.target.path
                         : !options.agent_address.empty()   ? "the agent at " + options.agent_address
                                                             : "targetless";
    return {{"pid", ::getpid()}, {"command", command}, {"target", target},
            {"started", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()}};
}

}  // namespace

ExitStatus exec_command(const ExecOptions& options) {
    const Config& config = options.config;
    for (auto& w : config.warnings) log::warn(w);
    if (auto st = check_kernel(); !st) {
        log::error(st.error().message);
        return {1, 0};
    }
    // What killed sessions left behind (copies of pod files, sockets) goes now. These are the names
    // local_agent, remote_fs, interceptors and the lldb-server stand-in make their directories with.
    if (size_t swept = sweep_stale_temp_dirs(scratch::kAll))
        log::info("removed ", swept, " directories that ended sessions left in $TMPDIR");
    Supervisor::prepare_signals();
    if (config.report) session_report().enable_summary();
    if (!options.events_file.empty())
        if (auto st = session_report().write_events_to(options.events_file); !st) {
            log::error(st.error().message);
            return {1, 0};
        }

    asio::io_context io;
    // For `mirrord ui`: this session's events, to whoever of this user watches.
    std::unique_ptr<SessionFeed> feed;
    if (auto started = SessionFeed::start(io, session_about(options)); started) feed = std::move(*started);
    else log::debug("no feed for mirrord ui: ", started.error().message);
    SessionAgent session_agent;
    auto address = session_agent.start(config, options.agent_address, io);
    if (!address) {
        log::error(address.error().message);
        return {1, 0};
    }

    AgentClient agent(io);
    RemoteFs remote_fs(agent);
    std::optional<FsPolicy> fs_policy;
    AddressMap address_map;
    OutgoingPolicy policy;
    Interceptors interceptors(io, agent, address_map, policy);
    NetSyscalls net(io, agent, interceptors, address_map, policy);
    IncomingTraffic incoming(io, agent, address_map, config.incoming);
    agent.on_unsolicited([&](Message& m) {
        if (auto* changed = std::get_if<FileChanged>(&m)) return remote_fs.changed(changed->path, changed->subtree);
        incoming.on_agent_message(m);
    });
    SyscallRouter router;
    std::string hostname;
    std::optional<FileSyscalls> files;
    std::optional<IdentitySyscalls> identity;
    Supervisor supervisor(io, router);
    GdbServer gdb_server(io, supervisor);
    std::string gdb_address;
    if (!options.gdbserver.empty() || options.gdb) {
        auto listening = gdb_server.listen(options.gdb ? "127.0.0.1:0" : options.gdbserver);
        if (!listening) {
            log::error(listening.error().message);
            return {1, 0};
        }
        gdb_address = *listening;
        supervisor.set_debugger(&gdb_server, options.debug_child);
        if (!options.gdb) log::warn("gdb server listening on ", gdb_address);
        if (!options.debug_child.empty()) log::warn("gdb will debug the first process that runs ", options.debug_child);
        if (options.gdb)
            gdb_server.on_waiting([&](pid_t pid) {
                auto program = read_link("/proc/" + std::to_string(pid) + "/exe").value_or(options.command[0]);
                auto debugger = start_gdb(gdb_address, program);
                if (!debugger) {
                    log::error(debugger.error().message);
                    ::kill(supervisor.main_pid(), SIGKILL);
                    return;
                }
                // Quitting gdb ends the session, as it would without mirrord.
                supervisor.on_child_exit(*debugger, [&](int) { ::kill(supervisor.main_pid(), SIGKILL); });
            });
    }
    if (auto& local_agent = session_agent.local())
        supervisor.on_child_exit(local_agent->pid(), [&](int) {
            session_agent.local()->forget();
            agent.give_up("the agent this session started exited");  // nothing to reconnect to
        });

    int exit_status = 1, exit_signal = 0;
    // A coroutine lambda must outlive its coroutine: this one lives as long as exec_command.
    auto finish = [&]() -> co::Task<void> {
        // Written copies not yet pushed (a process that exited without closing) go out first.
        co_await remote_fs.flush_all();
        agent.close();
        io.stop();
    };
    supervisor.on_finished([&](int status, int signal) {
        exit_status = status;
        exit_signal = signal;
        co::spawn(finish());
    });

    auto fail = [&](const Error& e) {
        log::error(e.message);
        exit_status = e.code == ENOENT && e.message.find("command not found") != std::string::npos ? 127 : 1;
        io.stop();
    };

    auto start = [&]() -> co::Task<void> {
        if (auto st = co_await session_agent.connect(agent, config, *address); !st) co_return fail(st.error());
        hostname = agent.hello().hostname;

        EnvMap remote_env;
        if (config.env.enabled) {
            auto env = reply_as<EnvReply>(co_await agent.call<EnvGet>());
            if (!env) co_return fail(env.error().context("fetching the target's environment"));
            remote_env = env->vars;
        }
        auto env = merge_environment(config.env, current_environment(), remote_env);
        if (!env) co_return fail(env.error());

        auto by_range = by_range_size();
        if (!by_range) co_return fail(by_range.error());
        remote_fs.set_on_demand_size(*by_range);
        if (auto st = remote_fs.create(); !st) co_return fail(st.error());
        OutgoingPolicy::Inputs inputs{config.outgoing, config.dns, {}, local_nameservers(), {}};
        if (config.dns.enabled) {
            auto resolv = co_await remote_fs.fetch("/etc/resolv.conf");
            if (resolv) {
                auto resolv_conf = parse_resolv_conf(read_file(*resolv).value_or(""));
                inputs.remote_nameservers = resolv_conf.nameservers;
                inputs.remote_search = resolv_conf.search;
            }
        }
        policy = OutgoingPolicy(inputs);
        for (auto& warning : policy.warnings()) log::warn(warning);
        for (auto& name : policy.filter_hostnames()) {
            if (config.dns.enabled) {
                auto found = reply_as<DnsReply>(co_await agent.call<DnsLookup>(name, uint8_t{0}));
                if (found) inputs.resolved[name] = found->addresses;
                inputs.resolved_here[name] = local_lookup(name);
            } else {
                inputs.resolved[name] = local_lookup(name);
            }
            if (inputs.resolved[name].empty()) log::warn("outgoing filter: cannot resolve '", name, "'");
        }
        policy = OutgoingPolicy(inputs);

        auto program = resolve_program(options.command[0], *env);
        if (!program) co_return fail(program.error());

        net.install(router);
        if (config.incoming.mode != IncomingConfig::Mode::off) incoming.install(router);
        auto policy_fs = FsPolicy::create(config.fs, fs_context(*program, *env));
        if (!policy_fs) co_return fail(policy_fs.error());
        fs_policy.emplace(std::move(*policy_fs));
        SpecialPaths special;
        if (policy.splits_dns()) {
            // Names the filter keeps local keep this machine's /etc/hosts entries too.
            auto remote_hosts = co_await remote_fs.fetch("/etc/hosts");
            special.remote = {"/etc/resolv.conf"};
            special.synthetic["/etc/hosts"] = split_hosts_file(policy.dns_selector(), read_file("/etc/hosts").value_or(""),
                                                               remote_hosts ? read_file(*remote_hosts).value_or("") : "");
            special.synthetic["/etc/nsswitch.conf"] = nsswitch_for_remote_dns();
        } else if (config.dns.enabled) {
            special.remote = {"/etc/resolv.conf", "/etc/hosts"};
            special.synthetic["/etc/nsswitch.conf"] = nsswitch_for_remote_dns();
        } else {
            special.local = {"/etc/resolv.conf", "/etc/hosts"};
        }
        if (config.hostname) {
            special.synthetic["/etc/hostname"] = hostname + "\n";
            special.synthetic["/proc/sys/kernel/hostname"] = hostname + "\n";
        }
        if (fs_policy->enabled() || config.dns.enabled || config.hostname) {
            files.emplace(remote_fs, *fs_policy, std::move(special));
            bool writes = config.fs.mode == FsConfig::Mode::write || !config.fs.read_write.empty();
            if (auto st = files->install(router, writes); !st) co_return fail(st.error());
        }
        if (config.hostname) {
            identity.emplace(hostname);
            identity->install(router);
        }

        if (config.allow_io_uring) log::warn("experimental.allow_io_uring: io_uring operations are not redirected to the target");
        auto filter = build_seccomp_filter(router.traced(), config.allow_io_uring);
        if (!filter) co_return fail(filter.error());
        // MIRRORD_SYNC_WAKE_UP=0 measures what kernels before 6.6 get (scripts/bench).
        const char* sync = std::getenv("MIRRORD_SYNC_WAKE_UP");
        LaunchSpec launch{*program, options.command, to_envp(*env), !(sync && std::string(sync) == "0")};
        auto pid = supervisor.launch(launch, *filter);
        if (!pid) {
            fail(pid.error());
            // As a shell says it: 127 not found, 126 found but not executable.
            if (supervisor.exec_errno()) exit_status = supervisor.exec_errno() == ENOENT ? 127 : 126;
            co_return;
        }
        log::info("running ", options.command[0], " (pid ", *pid, ") in the context of ", config.target.path.empty() ? "the agent's target" : config.target.path);
    };
    // Delve started us as its lldb-server: when it is gone, so is the program (Delve would kill it).
    std::optional<asio::posix::stream_descriptor> debugger_exit;
    if (auto debugger = take_stand_in_debugger()) {
        auto debugger_gone = [&] {
            log::warn("the debugger that started the lldb-server stand-in exited: the program ends with it");
            if (supervisor.main_pid()) ::kill(supervisor.main_pid(), SIGKILL);
            else exit_status = 1, io.stop();  // before the program started
        };
        UniqueFd pidfd;
        if (::getppid() == *debugger) pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, *debugger, 0)));
        if (!pidfd || *debugger == 1) {  // gone already: we were reparented (to init or a subreaper)
            asio::post(io, debugger_gone);
        } else {
            debugger_exit.emplace(io, pidfd.release());
            debugger_exit->async_wait(asio::posix::descriptor_base::wait_read, [debugger_gone](std::error_code ec) {
                if (!ec) debugger_gone();
            });
        }
    }
    co::spawn(start());
    io.run();
    agent.close();
    session_agent.stop();
    gdb_server.close();
    co::drain(io);
    if (std::string summary = session_report().summary(); !summary.empty()) std::cerr << summary << std::flush;
    return {exit_status, exit_signal};
}

void exit_like(const ExitStatus& status) {
    if (status.signal) {
        // Die the way the program died, so the shell reports it alike (without a core file of ours).
        rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::signal(status.signal, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, status.signal);
        ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
        ::raise(status.signal);
    }
    std::exit(status.code);
}

}  // namespace mrd::tracer
