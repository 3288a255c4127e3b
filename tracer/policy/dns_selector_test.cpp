#include "tracer/policy/dns_selector.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;

namespace {

// A query as resolvers send it: header, then QNAME labels, QTYPE, QCLASS.
std::vector<uint8_t> query(const std::string& name) {
    std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        q.push_back(static_cast<uint8_t>(dot - start));
        q.insert(q.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    q.insert(q.end(), {0, 0, 1, 0, 1});
    return q;
}

}  // namespace

TEST_CASE("dns: the question's name, lower case") {
    auto q = query("Backend.Demo.svc");
    CHECK(dns_question_name(q.data(), q.size()) == "backend.demo.svc");
}

TEST_CASE("dns: malformed messages have no name") {
    auto q = query("backend.demo");
    CHECK_FALSE(dns_question_name(q.data(), 11));                // shorter than a header
    CHECK_FALSE(dns_question_name(q.data(), 12 + 4));            // a label running past the end
    auto none = q;
    none[5] = 0;                                                 // QDCOUNT 0
    CHECK_FALSE(dns_question_name(none.data(), none.size()));
    auto pointer = q;
    pointer[12] = 0xc0;                                          // compression: not in a question
    CHECK_FALSE(dns_question_name(pointer.data(), pointer.size()));
}

TEST_CASE("dns: a SERVFAIL answer to a query") {
    auto q = query("backend.demo");
    q.insert(q.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});  // an EDNS OPT record
    q[11] = 1;                                                 // ARCOUNT 1
    auto answer = dns_servfail_answer(q.data(), q.size());
    REQUIRE(answer);
    CHECK(answer->size() == q.size() - 11);                    // the header and question only
    CHECK((*answer)[0] == 0x12);                               // the query's id
    CHECK((*answer)[1] == 0x34);
    CHECK((*answer)[2] == 0x81);                               // QR, RD
    CHECK((*answer)[3] == 0x82);                               // RA, SERVFAIL
    CHECK(std::vector<uint8_t>(answer->begin() + 4, answer->begin() + 12) == std::vector<uint8_t>{0, 1, 0, 0, 0, 0, 0, 0});
    CHECK(dns_question_name(answer->data(), answer->size()) == "backend.demo");
    CHECK_FALSE(dns_servfail_answer(answer->data(), answer->size()));  // an answer gets none
    CHECK_FALSE(dns_servfail_answer(q.data(), q.size() - 15));        // no type and class
}

TEST_CASE("dns: local filter keeps matching questions local, search expansions included") {
    DnsSelector s(*FilterList::parse(FilterList::Side::local, {"laptop-db.test", "Cache"}), {"demo.svc.cluster.local", "cluster.local"});
    CHECK(s.active());
    CHECK(s.route("laptop-db.test") == Route::local);
    CHECK(s.route("laptop-db.test.demo.svc.cluster.local") == Route::local);
    CHECK(s.route("cache.cluster.local") == Route::local);
    CHECK(s.route("cache") == Route::local);
    CHECK(s.route("backend") == Route::remote);
    CHECK(s.route("backend.demo.svc.cluster.local") == Route::remote);
    CHECK(s.route("xlaptop-db.test") == Route::remote);
    CHECK(s.route("cache.other.domain") == Route::remote);
    CHECK(s.warnings().empty());
}

TEST_CASE("dns: remote filter sends only matching questions to the target") {
    DnsSelector s(*FilterList::parse(FilterList::Side::remote, {"backend:80"}), {"demo.svc.cluster.local"});
    CHECK(s.route("backend.demo.svc.cluster.local") == Route::remote);
    CHECK(s.route("backend") == Route::remote);
    CHECK(s.route("example.com") == Route::local);
    REQUIRE(s.warnings().size() == 1);  // the port cannot be seen
    CHECK(s.warnings()[0].find("no port") != std::string::npos);
}

TEST_CASE("dns: address entries never match a question; no filter means remote") {
    DnsSelector s(*FilterList::parse(FilterList::Side::local, {"10.0.0.0/8", ":53"}), {});
    CHECK(s.route("10.0.0.1") == Route::remote);
    CHECK(s.warnings().size() == 2);
    DnsSelector none(FilterList{}, {});
    CHECK_FALSE(none.active());
    CHECK(none.route("anything") == Route::remote);
}

TEST_CASE("dns: /etc/hosts keeps our entries for local names, ahead of the target's") {
    DnsSelector s(*FilterList::parse(FilterList::Side::local, {"laptop-db.test"}), {});
    std::string local = "127.0.0.1 localhost\n# comment\n10.9.9.9 laptop-db.test laptop-db other  # db\n";
    std::string remote = "127.0.0.1 localhost\n10.77.0.2 pod\n";
    CHECK(split_hosts_file(s, local, remote) ==
          "# this machine's entries for names feature.network.dns.filter keeps local\n10.9.9.9 laptop-db.test\n# the target's\n" + remote);
    DnsSelector nothing_local(*FilterList::parse(FilterList::Side::local, {"absent"}), {});
    CHECK(split_hosts_file(nothing_local, local, remote) == remote);
}
