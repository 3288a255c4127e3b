#include "k8s/proxy.hpp"

#include "base/text_file.hpp"
#include "wire/address.hpp"

#include <arpa/inet.h>

#include <cstdlib>
#include <sstream>

namespace mrd::k8s {

namespace {

Result<Proxy> parse_proxy_url(const std::string& url) {
    std::string rest = url;
    if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
    else if (rest.find("://") != std::string::npos) return Error::msg("proxy '" + url + "': only http:// proxies are supported", ENOTSUP);
    rest = rest.substr(0, rest.find('/'));
    Proxy p;
    if (auto at = rest.rfind('@'); at != std::string::npos) {
        std::string credentials = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = credentials.find(':');
        p.user = credentials.substr(0, colon);
        if (colon != std::string::npos) p.password = credentials.substr(colon + 1);
    }
    auto hostport = wire::split_host_port(rest, 80);
    if (!hostport || hostport->host.empty() || hostport->port == 0) return Error::msg("proxy '" + url + "' is not http://host:port", EINVAL);
    p.host = hostport->host;
    p.port = hostport->port;
    return p;
}

bool in_cidr(const std::string& ip, const std::string& cidr) {
    auto slash = cidr.find('/');
    int bits = std::atoi(cidr.c_str() + slash + 1);
    unsigned char a[16], b[16];
    int family = ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip.c_str(), a) != 1 || inet_pton(family, cidr.substr(0, slash).c_str(), b) != 1) return false;
    for (int i = 0; i < bits; ++i)
        if (((a[i / 8] >> (7 - i % 8)) & 1) != ((b[i / 8] >> (7 - i % 8)) & 1)) return false;
    return true;
}

}  // namespace

bool bypasses_proxy(const std::string& no_proxy, const std::string& host) {
    std::istringstream entries(no_proxy);
    for (std::string e; std::getline(entries, e, ',');) {
        e.erase(0, e.find_first_not_of(' '));
        e.erase(e.find_last_not_of(' ') + 1);
        if (e.empty()) continue;
        if (e == "*") return true;
        if (e.find('/') != std::string::npos) {
            if (in_cidr(host, e)) return true;
            continue;
        }
        if (auto colon = e.rfind(':'); colon != std::string::npos && e.find(':') == colon) e = e.substr(0, colon);  // host:port
        std::string domain = e.front() == '.' ? e.substr(1) : e;
        if (host == domain) return true;
        if (host.size() > domain.size() && host.compare(host.size() - domain.size(), domain.size(), domain) == 0 &&
            host[host.size() - domain.size() - 1] == '.')
            return true;
    }
    return false;
}

std::map<std::string, std::string> proxy_environment() {
    std::map<std::string, std::string> env;
    for (const char* name : {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"}) {
        std::string lower = to_lower(name);
        if (const char* v = std::getenv(name); v && *v) env[name] = v;
        else if (const char* l = std::getenv(lower.c_str()); l && *l) env[name] = l;
    }
    return env;
}

Result<std::optional<Proxy>> choose_proxy(const std::string& proxy_url, const std::string& server_host, bool tls,
                                          const std::map<std::string, std::string>& env) {
    std::string url = proxy_url;
    if (url.empty()) {  // the kubeconfig's proxy-url is not subject to NO_PROXY; the environment's is
        auto it = env.find(tls ? "HTTPS_PROXY" : "HTTP_PROXY");
        if (it == env.end()) return std::optional<Proxy>{};
        auto no = env.find("NO_PROXY");
        if (no != env.end() && bypasses_proxy(no->second, server_host)) return std::optional<Proxy>{};
        url = it->second;
    }
    auto p = parse_proxy_url(url);
    if (!p) return p.error();
    return std::optional<Proxy>(*p);
}

}  // namespace mrd::k8s
