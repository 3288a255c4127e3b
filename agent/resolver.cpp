#include "agent/resolver.hpp"

#include "agent/root_fs.hpp"
#include "wire/address.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <sstream>

namespace mrd::agent {
namespace {

std::vector<std::string> words(std::string_view line) {
    std::vector<std::string> out;
    std::istringstream in{std::string(line)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

int family_of(const std::string& ip) { return ip.find(':') == std::string::npos ? 4 : 6; }

struct Query {
    std::vector<std::string> addresses;
    int status = ARES_ENOTFOUND;
    int pending = 0;
};

void on_reply(void* arg, int status, int, unsigned char* abuf, int alen) {
    auto* q = static_cast<Query*>(arg);
    q->pending--;
    if (status != ARES_SUCCESS) {
        if (q->status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA) q->status = status;
        return;
    }
    ares_addrttl a4[64];
    ares_addr6ttl a6[64];
    int n4 = 64, n6 = 64;
    char text[INET6_ADDRSTRLEN];
    bool got = false;
    if (ares_parse_a_reply(abuf, alen, nullptr, a4, &n4) == ARES_SUCCESS)
        for (int i = 0; i < n4; ++i, got = true)
            q->addresses.emplace_back(inet_ntop(AF_INET, &a4[i].ipaddr, text, sizeof text));
    else if (ares_parse_aaaa_reply(abuf, alen, nullptr, a6, &n6) == ARES_SUCCESS)
        for (int i = 0; i < n6; ++i, got = true)
            q->addresses.emplace_back(inet_ntop(AF_INET6, &a6[i].ip6addr, text, sizeof text));
    if (got) q->status = ARES_SUCCESS;
}

int errno_for(int ares_status) {
    switch (ares_status) {
        case ARES_ENOTFOUND: case ARES_ENODATA: case ARES_ENONAME: return ENOENT;
        case ARES_ETIMEOUT: return ETIMEDOUT;
        case ARES_ECONNREFUSED: return ECONNREFUSED;
        default: return EAGAIN;
    }
}

}  // namespace

std::vector<std::string> hosts_lookup(std::string_view hosts, std::string_view name, int family) {
    std::vector<std::string> out;
    std::istringstream in{std::string(hosts)};
    for (std::string line; std::getline(in, line);) {
        line = line.substr(0, line.find('#'));
        auto w = words(line);
        if (w.size() < 2 || !wire::is_ip_literal(w[0])) continue;
        if (family && family_of(w[0]) != family) continue;
        for (size_t i = 1; i < w.size(); ++i)
            if (iequals(w[i], name)) {
                if (std::find(out.begin(), out.end(), w[0]) == out.end()) out.push_back(w[0]);
                break;
            }
    }
    return out;
}

Result<std::vector<std::string>> Resolver::lookup(const std::string& name, int family) const {
    if (name.empty() || name.size() > 253) return Error::msg("invalid host name '" + name + "'", EINVAL);
    if (wire::is_ip_literal(name)) return std::vector<std::string>{name};

    auto hosts = read_file_in_root(root_fd_, "/etc/hosts");
    if (hosts) {
        auto found = hosts_lookup(*hosts, name, family);
        if (!found.empty()) return found;
    }
    auto conf_text = read_file_in_root(root_fd_, "/etc/resolv.conf");
    ResolvConf conf = parse_resolv_conf(conf_text ? *conf_text : "");
    if (conf.nameservers.empty()) conf.nameservers.push_back("127.0.0.1");  // the resolver's default too

    static std::once_flag init;
    std::call_once(init, [] { ares_library_init(ARES_LIB_INIT_ALL); });

    ares_options options{};
    options.flags = ARES_FLAG_NOCHECKRESP;
    options.timeout = conf.timeout_s * 1000;
    options.tries = conf.attempts;
    options.ndots = conf.ndots;
    std::vector<char*> domains;
    for (auto& d : conf.search) domains.push_back(const_cast<char*>(d.c_str()));
    options.domains = domains.data();
    options.ndomains = static_cast<int>(domains.size());
    options.lookups = const_cast<char*>("b");  // DNS only: the target's hosts file was consulted above
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS;
    ares_channel channel;
    if (int rc = ares_init_options(&channel, &options, mask); rc != ARES_SUCCESS)
        return Error::msg(std::string("DNS resolver: ") + ares_strerror(rc), EAGAIN);
    std::string servers;
    for (auto& ns : conf.nameservers) servers += (servers.empty() ? "" : ",") + wire::to_string({ns, 53});
    ares_set_servers_ports_csv(channel, servers.c_str());

    Query query;
    if (family != 6) { query.pending++; ares_search(channel, name.c_str(), ns_c_in, ns_t_a, on_reply, &query); }
    if (family != 4) { query.pending++; ares_search(channel, name.c_str(), ns_c_in, ns_t_aaaa, on_reply, &query); }
    while (query.pending > 0) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
        std::vector<pollfd> fds;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
            short events = (ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) | (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0);
            if (events) fds.push_back({socks[i], events, 0});
        }
        timeval tv{}, *tvp = ares_timeout(channel, nullptr, &tv);
        int timeout_ms = tvp ? static_cast<int>(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 1000;
        ::poll(fds.data(), fds.size(), timeout_ms);
        for (auto& p : fds)
            ares_process_fd(channel, (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD,
                            (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD);
        if (fds.empty()) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    }
    ares_destroy(channel);
    if (query.addresses.empty()) {
        int status = query.status == ARES_SUCCESS ? ARES_ENODATA : query.status;
        return Error::msg("resolving " + name + ": " + ares_strerror(status), errno_for(status));
    }
    return query.addresses;
}

}  // namespace mrd::agent
