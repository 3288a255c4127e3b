#include "tracer/gdb/lldb_server_stand_in.hpp"

#include "tracer/ptrace/spawn.hpp"
#include "base/log.hpp"
#include "base/temp_dir.hpp"
#include "base/text_file.hpp"

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace mrd::tracer {
namespace {

// How the debugger's environment tells the stand-in what `mirrord exec` would have done:
// {"exec": [options...], "path": the PATH before the stand-in's directory went first, "wrapper": its
// pid, which adopts the stand-in if the debugger ends first}.
constexpr const char* kStandInVariable = "MIRRORD_LLDB_SERVER";
// From the stand-in to the `mirrord exec` it becomes: the debugger's pid.
constexpr const char* kDebuggerVariable = "MIRRORD_LLDB_SERVER_DEBUGGER";

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

volatile sig_atomic_t g_debugger = 0;
void forward_to_debugger(int signo) {
    if (g_debugger > 0) ::kill(g_debugger, signo);
}

int fail(const std::string& message) {
    std::cerr << "mirrord: " << message << "\n";
    return 1;
}

// Reaps the descendants orphaned to us (a subreaper) until there are none, or `patience` is up.
void outlive_orphans(std::chrono::seconds patience) {
    auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
        pid_t pid = ::waitpid(-1, nullptr, WNOHANG);
        if (pid > 0) continue;
        if (pid < 0 && errno != EINTR) return;  // ECHILD: all gone
        if (std::chrono::steady_clock::now() >= deadline) {
            log::warn("the debugger ended, but processes it started still run after ", patience.count(), " s: leaving them");
            return;
        }
        ::usleep(20'000);
    }
}

}  // namespace

int run_with_lldb_server_stand_in(const std::vector<std::string>& exec_options, std::vector<std::string> command) {
    auto self = read_link("/proc/self/exe");
    auto dir = make_temp_dir(scratch::kLldbServer);
    if (!self || !dir) return fail("cannot set up the lldb-server stand-in: " + (self ? dir : self).error().message);
    std::string stand_in = *dir + "/lldb-server";
    if (::symlink(self->c_str(), stand_in.c_str()) != 0) return fail("cannot set up the lldb-server stand-in: " + std::string(std::strerror(errno)));
    const char* path = std::getenv("PATH");
    pid_t self_pid = ::getpid();
    nlohmann::json payload = {{"exec", exec_options}, {"path", path ? path : ""}, {"wrapper", self_pid}};
    // Delve picks its backend per command; without lldb it would try to ptrace the program itself.
    if (basename_of(command[0]) == "dlv" && command.size() > 1 && (command[1] == "debug" || command[1] == "exec" || command[1] == "test")) {
        bool named = false;
        for (auto& a : command) named = named || a.rfind("--backend", 0) == 0;
        if (!named) command.insert(command.begin() + 2, "--backend=lldb");
    }
    ::setenv("PATH", (*dir + (path && *path ? ":" + std::string(path) : "")).c_str(), 1);
    ::setenv(kStandInVariable, payload.dump().c_str(), 1);
    // The debugger's lldb-server (the stand-in's `mirrord exec`) is orphaned to us when the debugger
    // ends before it: Delve kills it right after asking it to kill the program. So we see it end.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    auto child = spawn_process(command, [self_pid] {
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // we were killed: so is the debugger, which ends its program
        if (::getppid() != self_pid) ::raise(SIGTERM);
    });
    // The debugger shares our terminal and process group: its Ctrl-C is its own business. A
    // termination sent to us alone goes to it, and we clean up once it has ended.
    struct sigaction ignore{}, forward{}, old_int{}, old_quit{}, old_term{}, old_hup{};
    ignore.sa_handler = SIG_IGN;
    forward.sa_handler = forward_to_debugger;
    if (child) g_debugger = *child;
    ::sigaction(SIGINT, &ignore, &old_int);
    ::sigaction(SIGQUIT, &ignore, &old_quit);
    ::sigaction(SIGTERM, &forward, &old_term);
    ::sigaction(SIGHUP, &forward, &old_hup);
    int status = 0;
    while (child && ::waitpid(*child, &status, 0) < 0 && errno == EINTR) {}
    g_debugger = 0;
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGQUIT, &old_quit, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
    if (child) outlive_orphans(std::chrono::seconds(30));
    std::error_code ignored;
    std::filesystem::remove_all(*dir, ignored);
    // What a killed `mirrord exec` left (its copies of pod files, its agent's socket) goes now.
    sweep_stale_temp_dirs(scratch::kAll);
    if (!child) return fail(child.error().message);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

std::optional<pid_t> take_stand_in_debugger() {
    const char* text = std::getenv(kDebuggerVariable);
    auto pid = text ? to_integer(text) : std::nullopt;
    ::unsetenv(kDebuggerVariable);
    if (pid && *pid > 0 && *pid <= INT32_MAX) return static_cast<pid_t>(*pid);
    return std::nullopt;
}

bool invoked_as_lldb_server(const char* argv0) { return argv0 && basename_of(argv0).rfind("lldb-server", 0) == 0; }

int lldb_server_stand_in(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "version" || mode == "--version") {
        std::cout << "lldb-server: mirrord's stand-in (gdbserver only)\n";
        return 0;
    }
    if (mode != "gdbserver" && mode != "g")
        return fail("this lldb-server is mirrord's stand-in for Delve and serves only `gdbserver [HOST]:PORT -- PROGRAM ARGS...`");
    std::string address;
    std::vector<std::string> program;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            program.assign(argv + i + 1, argv + argc);
            break;
        }
        if (a == "--attach" || a.rfind("--attach=", 0) == 0 || a == "-a")
            return fail("the lldb-server stand-in cannot attach to a running process: let the debugger start it (dlv debug, exec or test)");
        if (a == "--log-file" || a == "--log-channels" || a == "-c") {
            ++i;  // lldb-server's own logging: nothing to log here
            continue;
        }
        if (a[0] == '-') continue;
        if (address.empty()) address = a;
        else program.assign(argv + i, argv + argc), i = argc;
    }
    if (address.find(':') == std::string::npos || program.empty())
        return fail("lldb-server stand-in: usage: lldb-server gdbserver [HOST]:PORT -- PROGRAM [ARGS...]");
    const char* payload_text = std::getenv(kStandInVariable);
    if (!payload_text)
        return fail("this lldb-server is mirrord's stand-in: run the debugger through `mirrord exec [OPTIONS] --dlv -- dlv ...`");
    std::vector<std::string> exec;
    std::string path;
    pid_t wrapper = 0;
    try {
        auto payload = nlohmann::json::parse(payload_text);
        exec = payload.at("exec").get<std::vector<std::string>>();
        path = payload.at("path").get<std::string>();
        wrapper = payload.value("wrapper", 0);
    } catch (const std::exception& e) {
        return fail(std::string("lldb-server stand-in: unreadable ") + kStandInVariable + ": " + e.what());
    }
    // The program sees the debugger's environment as it was before the stand-in.
    ::setenv("PATH", path.c_str(), 1);
    ::unsetenv(kStandInVariable);
    pid_t debugger = ::getppid();
    if (debugger == wrapper || debugger == 1) return fail("lldb-server stand-in: the debugger that started it has exited");
    ::setenv(kDebuggerVariable, std::to_string(debugger).c_str(), 1);
    std::string host = address.substr(0, address.rfind(':'));
    if (host.empty() || host == "localhost") host = "127.0.0.1";
    if (host == "*") host = "0.0.0.0";
    std::vector<std::string> args = {"mirrord", "exec"};
    args.insert(args.end(), exec.begin(), exec.end());
    args.insert(args.end(), {"--gdbserver", host + address.substr(address.rfind(':')), "--"});
    args.insert(args.end(), program.begin(), program.end());
    std::vector<char*> argv_out;
    for (auto& a : args) argv_out.push_back(a.data());
    argv_out.push_back(nullptr);
    ::execv("/proc/self/exe", argv_out.data());
    return fail(std::string("lldb-server stand-in: cannot run mirrord exec: ") + std::strerror(errno));
}

}  // namespace mrd::tracer
