#include "tracer/policy/outgoing_policy.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;
using mrd::wire::SocketAddress;

namespace {

OutgoingPolicy policy(OutgoingConfig out, DnsConfig dns = {}) {
    return OutgoingPolicy({out, dns, {"10.96.0.10"}, {"192.168.1.1"}, {{"db.example", {"10.1.2.3"}}}});
}

}  // namespace

TEST_CASE("policy: subnets") {
    CHECK(ip_in_subnet("10.1.2.3", "10.0.0.0/8"));
    CHECK_FALSE(ip_in_subnet("11.1.2.3", "10.0.0.0/8"));
    CHECK(ip_in_subnet("::ffff:10.1.2.3", "10.0.0.0/8"));
    CHECK(ip_in_subnet("fd00::5", "fd00::/8"));
    CHECK_FALSE(ip_in_subnet("fd00::5", "10.0.0.0/8"));
    CHECK(ip_in_subnet("1.2.3.4", "1.2.3.4"));
    CHECK(is_loopback("127.0.0.53"));
    CHECK(is_loopback("::1"));
    CHECK(is_unspecified_or_multicast("224.0.0.251"));
}

TEST_CASE("policy: defaults send everything remote, localhost included (as mirrord does)") {
    auto p = policy({});
    CHECK(p.route(Transport::tcp, {"10.0.0.1", 80}) == Route::remote);
    CHECK(p.route(Transport::udp, {"8.8.8.8", 123}) == Route::remote);
    CHECK(p.route(Transport::tcp, {"127.0.0.1", 5432}) == Route::remote);
    CHECK(p.route(Transport::udp, {"255.255.255.255", 67}) == Route::local);
}

TEST_CASE("policy: tcp/udp switches and ignore_localhost") {
    OutgoingConfig c;
    c.udp = false;
    c.ignore_localhost = true;
    auto p = policy(c);
    CHECK(p.route(Transport::udp, {"10.0.0.1", 123}) == Route::local);
    CHECK(p.route(Transport::tcp, {"127.0.0.1", 5432}) == Route::local);
    CHECK(p.route(Transport::tcp, {"10.0.0.1", 80}) == Route::remote);
}

TEST_CASE("policy: DNS to the target's nameserver follows feature.network.dns, not outgoing.udp") {
    OutgoingConfig c;
    c.udp = false;
    CHECK(policy(c).route(Transport::udp, {"10.96.0.10", 53}) == Route::remote);
    DnsConfig off;
    off.enabled = false;
    CHECK(policy({}, off).route(Transport::udp, {"10.96.0.10", 53}) == Route::local);
    CHECK(policy({}, off).route(Transport::udp, {"192.168.1.1", 53}) == Route::local);
}

TEST_CASE("policy: remote and local filters") {
    OutgoingConfig remote_only;
    remote_only.filter = *FilterList::parse(FilterList::Side::remote, {"tcp://10.0.0.0/8:80", "db.example:5432"});
    auto p = policy(remote_only);
    CHECK(p.route(Transport::tcp, {"10.9.9.9", 80}) == Route::remote);
    CHECK(p.route(Transport::udp, {"10.9.9.9", 80}) == Route::local);
    CHECK(p.route(Transport::tcp, {"10.9.9.9", 81}) == Route::local);
    CHECK(p.route(Transport::tcp, {"10.1.2.3", 5432}) == Route::remote);
    CHECK(p.route(Transport::tcp, {"1.1.1.1", 443}) == Route::local);

    OutgoingConfig local_only;
    local_only.filter = *FilterList::parse(FilterList::Side::local, {":5432", "localhost"});
    p = policy(local_only);
    CHECK(p.route(Transport::tcp, {"10.1.2.3", 5432}) == Route::local);
    CHECK(p.route(Transport::tcp, {"127.0.0.1", 9000}) == Route::local);
    CHECK(p.route(Transport::tcp, {"10.1.2.3", 80}) == Route::remote);
    CHECK(p.filter_hostnames().empty());
    CHECK(policy(remote_only).filter_hostnames() == std::vector<std::string>{"db.example"});
}

TEST_CASE("policy: unix stream paths matched by unix_streams go remote") {
    OutgoingConfig out;
    out.unix_streams = {"^/app/.*\\.sock$", "docker"};
    auto p = policy(out);
    CHECK(p.unix_stream_is_remote("/app/app.sock"));
    CHECK(p.unix_stream_is_remote("/var/run/docker.sock"));
    CHECK_FALSE(p.unix_stream_is_remote("/app/app.socket"));
    CHECK_FALSE(policy({}).unix_stream_is_remote("/app/app.sock"));
}

TEST_CASE("policy: a name kept local by the filter goes to this machine's address for it") {
    OutgoingConfig out;
    out.filter = FilterList::parse(FilterList::Side::local, {"db.example:5432", "10.9.9.9"}).value();
    OutgoingPolicy::Inputs in{out, {}, {"10.96.0.10"}, {"192.168.1.1"}, {{"db.example", {"10.1.2.3"}}}};
    in.resolved_here = {{"db.example", {"fd00::7", "127.0.0.5"}}};
    OutgoingPolicy p(in);
    CHECK(p.route(Transport::tcp, {"10.1.2.3", 5432}) == Route::local);
    CHECK(p.local_destination(Transport::tcp, {"10.1.2.3", 5432}) == SocketAddress{"127.0.0.5", 5432});
    CHECK(p.local_destination(Transport::tcp, {"::ffff:10.1.2.3", 5432}) == SocketAddress{"127.0.0.5", 5432});
    CHECK_FALSE(p.local_destination(Transport::tcp, {"10.1.2.3", 80}));      // not the filter's port: remote anyway
    CHECK_FALSE(p.local_destination(Transport::tcp, {"10.9.9.9", 443}));     // an address in the filter: as given
    CHECK_FALSE(p.local_destination(Transport::tcp, {"127.0.0.5", 5432}));   // already this machine's
    in.resolved_here.clear();
    CHECK_FALSE(OutgoingPolicy(in).local_destination(Transport::tcp, {"10.1.2.3", 5432}));  // DNS is local: nothing to redo
}
