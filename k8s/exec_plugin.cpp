#include "k8s/exec_plugin.hpp"

#include "wire/inherited_fds.hpp"
#include "base/unique_fd.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>

namespace mrd::k8s {

using nlohmann::json;

namespace {

// RFC 3339 with a Z or an offset, as Kubernetes writes times.
std::optional<std::chrono::system_clock::time_point> parse_time(const std::string& text) {
    std::tm tm{};
    const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) return std::nullopt;
    while (*rest == '.' || (*rest >= '0' && *rest <= '9')) ++rest;  // fractions of a second
    long offset = 0;
    if (*rest == '+' || *rest == '-') {
        int h = 0, m = 0;
        if (std::sscanf(rest + 1, "%d:%d", &h, &m) != 2) return std::nullopt;
        offset = (*rest == '+' ? 1 : -1) * (h * 3600L + m * 60L);
    } else if (*rest != 'Z' && *rest != 'z') {
        return std::nullopt;
    }
    return std::chrono::system_clock::from_time_t(::timegm(&tm) - offset);
}

}  // namespace

Result<ExecCredential> run_exec_plugin(const ExecPlugin& plugin, bool stdin_is_terminal) {
    std::string mode = plugin.interactive_mode;
    if (mode.empty()) mode = plugin.api_version == "client.authentication.k8s.io/v1" ? "Never" : "IfAvailable";
    if (mode != "Never" && mode != "IfAvailable" && mode != "Always")
        return Error::msg("exec plugin '" + plugin.command + "': interactiveMode '" + mode + "' is not Never, IfAvailable or Always", EINVAL);
    if (mode == "Always" && !stdin_is_terminal)
        return Error::msg("exec plugin '" + plugin.command + "' needs a terminal (interactiveMode: Always), and there is none", ENOTTY);
    bool interactive = mode != "Never" && stdin_is_terminal;
    json spec = {{"interactive", interactive}};
    if (plugin.provide_cluster_info) spec["cluster"] = plugin.cluster;
    json info = {{"apiVersion", plugin.api_version}, {"kind", "ExecCredential"}, {"spec", spec}};

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return Error::from_errno("exec plugin pipe");
    std::vector<std::string> argv = {plugin.command};
    argv.insert(argv.end(), plugin.args.begin(), plugin.args.end());
    pid_t pid = ::fork();
    if (pid < 0) return Error::from_errno("exec plugin fork");
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        wire::close_uninherited_on_exec();
        if (!interactive) {  // only an interactive plugin may read the user's terminal
            int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, STDIN_FILENO);
        }
        for (auto& [k, v] : plugin.env) ::setenv(k.c_str(), v.c_str(), 1);
        ::setenv("KUBERNETES_EXEC_INFO", info.dump().c_str(), 1);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(out[1]);
    UniqueFd reader(out[0]);
    std::string output;
    char buf[4096];
    for (ssize_t n; (n = ::read(reader.get(), buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::string hint = plugin.install_hint.empty() ? "" : "\n" + plugin.install_hint;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return Error::msg("the kubeconfig exec plugin '" + plugin.command + "' was not found" + hint, ENOENT);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return Error::msg("the kubeconfig exec plugin '" + plugin.command + "' failed (status " +
                              std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) + ")", EACCES);
    ExecCredential credential;
    try {
        json answer = json::parse(output);
        std::string version = answer.value("apiVersion", "");
        if (version != plugin.api_version)
            return Error::msg("the kubeconfig exec plugin '" + plugin.command + "' answered in " + (version.empty() ? "no version" : version) +
                              ", not the " + plugin.api_version + " it was asked for", EPROTO);
        const json& st = answer.at("status");
        credential.token = st.value("token", "");
        credential.client_certificate_pem = st.value("clientCertificateData", "");
        credential.client_key_pem = st.value("clientKeyData", "");
        if (st.contains("expirationTimestamp") && st["expirationTimestamp"].is_string()) {
            credential.expires = parse_time(st["expirationTimestamp"]);
            if (!credential.expires) return Error::msg("the kubeconfig exec plugin's expirationTimestamp is not a time", EPROTO);
        }
    } catch (const std::exception& e) {
        return Error::msg("the kubeconfig exec plugin '" + plugin.command + "' printed no valid ExecCredential: " + e.what(), EINVAL);
    }
    if (credential.token.empty() && credential.client_certificate_pem.empty())
        return Error::msg("the kubeconfig exec plugin '" + plugin.command + "' gave no token or certificate", EINVAL);
    if (credential.client_certificate_pem.empty() != credential.client_key_pem.empty())
        return Error::msg("the kubeconfig exec plugin '" + plugin.command + "' gave a certificate without its key, or a key alone", EINVAL);
    return credential;
}

}  // namespace mrd::k8s
