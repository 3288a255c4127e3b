#include "base/co.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace mrd::co;

namespace {

Task<int> add_later(Promise<int> p, int x) { co_return co_await p.wait() + x; }

Task<void> chain(Promise<int> p, std::vector<std::string>& trace) {
    trace.push_back("start");
    int v = co_await add_later(p, 1);
    trace.push_back("got " + std::to_string(v));
}

Task<void> thrower() {
    throw std::runtime_error("boom");
    co_return;
}

}  // namespace

TEST_CASE("co: a spawned task suspends until its promise is set, then completes") {
    Promise<int> p;
    std::vector<std::string> trace;
    spawn(chain(p, trace));
    CHECK(trace == std::vector<std::string>{"start"});
    p.set(41);
    CHECK(trace == std::vector<std::string>{"start", "got 42"});
    p.set(99);  // later answers are ignored
    CHECK(trace.size() == 2);
}

TEST_CASE("co: an already-set promise does not suspend") {
    Promise<int> p;
    p.set(1);
    std::vector<std::string> trace;
    spawn(chain(p, trace));
    CHECK(trace == std::vector<std::string>{"start", "got 2"});
}

TEST_CASE("co: an exception in a detached task is reported, not propagated") {
    spawn(thrower());
    SUCCEED();
}

namespace {
Task<void> wait_shared(Shared<int> s, int& out) { out = co_await s.wait(); }
}  // namespace

TEST_CASE("co: a shared value wakes every waiter") {
    Shared<int> s;
    int a = 0, b = 0, c = 0;
    spawn(wait_shared(s, a));
    spawn(wait_shared(s, b));
    s.set(7);
    spawn(wait_shared(s, c));
    CHECK(a == 7);
    CHECK(b == 7);
    CHECK(c == 7);
}
