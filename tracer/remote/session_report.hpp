// What a session did remotely and what stayed local (`mirrord exec --report`, `--events FILE`,
// `feature.report`): files opened by route and bytes moved, names resolved, outgoing connections by
// destination and route, incoming connections and requests by port. Events are recorded where the
// decisions are made (from the event loop and the listener's thread alike); nothing is kept unless
// asked for.
#pragma once

#include "base/result.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace mrd::tracer {

class SessionReport {
public:
    enum class Kind { file, fetched, written_back, dns, connection, incoming };

    void enable_summary() { summary_ = true; }
    Status write_events_to(const std::string& path);  // JSON lines, as they happen
    // Events for `mirrord ui`, as JSON lines, while someone watches (from any thread).
    void publish_to(std::function<void(std::string)> sink);
    void set_watched(bool watched) { watched_ = watched; }
    bool active() const { return summary_ || events_ || watched_; }
    // route: "remote", "local", "not found", "made up"; incoming: "steal", "mirror"...; rule: what
    // chose the route (a config key and pattern), when known. The summary groups by route and rule.
    void record(Kind kind, const std::string& route, const std::string& subject, uint64_t bytes = 0,
                const std::string& rule = "");
    std::string summary() const;  // a short table; empty if nothing happened
    ~SessionReport();

private:
    struct Tally {
        uint64_t count = 0, bytes = 0;
        std::map<std::string, uint64_t> subjects;
    };
    mutable std::mutex mutex_;
    bool summary_ = false;
    std::FILE* events_ = nullptr;
    std::atomic<bool> watched_{false};
    std::function<void(std::string)> sink_;
    std::map<std::pair<Kind, std::string>, Tally> tallies_;
};

// The session's report (one session per process).
SessionReport& session_report();

}  // namespace mrd::tracer
