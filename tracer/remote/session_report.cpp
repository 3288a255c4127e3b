#include "tracer/remote/session_report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <vector>

namespace mrd::tracer {

namespace {

const char* kind_name(SessionReport::Kind k) {
    switch (k) {
        case SessionReport::Kind::file: return "file";
        case SessionReport::Kind::fetched: return "fetched";
        case SessionReport::Kind::written_back: return "written back";
        case SessionReport::Kind::dns: return "dns";
        case SessionReport::Kind::connection: return "connection";
        case SessionReport::Kind::incoming: return "incoming";
    }
    return "?";
}

std::string megabytes(uint64_t bytes) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MB";
    return out.str();
}

}  // namespace

SessionReport& session_report() {
    static SessionReport report;
    return report;
}

SessionReport::~SessionReport() {
    if (events_) std::fclose(events_);
}

Status SessionReport::write_events_to(const std::string& path) {
    std::lock_guard lock(mutex_);
    events_ = std::fopen(path.c_str(), "a");
    if (!events_) return Error::from_errno("--events " + path);
    return {};
}

void SessionReport::publish_to(std::function<void(std::string)> sink) {
    std::lock_guard lock(mutex_);
    sink_ = std::move(sink);
}

void SessionReport::record(Kind kind, const std::string& route, const std::string& subject, uint64_t bytes,
                           const std::string& rule) {
    if (!active()) return;
    std::lock_guard lock(mutex_);
    if (events_ || (watched_ && sink_)) {
        double t = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        nlohmann::json e = {{"time", t}, {"kind", kind_name(kind)}, {"route", route}, {"subject", subject}};
        if (bytes) e["bytes"] = bytes;
        if (!rule.empty()) e["rule"] = rule;
        std::string line = e.dump();
        if (events_) {
            std::fprintf(events_, "%s\n", line.c_str());
            std::fflush(events_);
        }
        if (watched_ && sink_) sink_(std::move(line));
    }
    if (!summary_) return;  // only watched or written out
    Tally& t = tallies_[{kind, rule.empty() ? route : route + ", by " + rule}];
    ++t.count;
    t.bytes += bytes;
    ++t.subjects[subject];
}

std::string SessionReport::summary() const {
    std::lock_guard lock(mutex_);
    if (!summary_ || tallies_.empty()) return "";
    std::ostringstream out;
    out << "mirrord: what this session did\n";
    static const std::pair<Kind, const char*> sections[] = {
        {Kind::file, "files opened"},          {Kind::fetched, "read from the target"}, {Kind::written_back, "written to the target"},
        {Kind::dns, "names asked"},            {Kind::connection, "outgoing connections"}, {Kind::incoming, "incoming"}};
    for (auto [kind, title] : sections) {
        for (auto& [key, tally] : tallies_) {
            if (key.first != kind) continue;
            std::vector<std::pair<uint64_t, std::string>> top;
            for (auto& [subject, n] : tally.subjects) top.emplace_back(n, subject);
            std::sort(top.begin(), top.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
            out << "  " << title << ", " << key.second << ": " << tally.count;
            if (tally.bytes) out << " (" << megabytes(tally.bytes) << ")";
            out << "\n";
            for (size_t i = 0; i < top.size() && i < 5; ++i) out << "      " << top[i].second << (top[i].first > 1 ? " x" + std::to_string(top[i].first) : "") << "\n";
            if (top.size() > 5) out << "      ... and " << top.size() - 5 << " more\n";
        }
    }
    return out.str();
}

}  // namespace mrd::tracer
