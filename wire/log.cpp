#include "wire/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace mrd::log {
namespace {

Level initial_level() {
    Level lvl = Level::warn;
    if (const char* env = std::getenv("MIRRORD_LOG")) parse_level(env, lvl);
    return lvl;
}

std::atomic<Level> g_level{initial_level()};
std::mutex g_mutex;
std::string g_prefix = "mirrord";

const char* name(Level lvl) {
    switch (lvl) {
        case Level::error: return "error";
        case Level::warn: return "warning";
        case Level::info: return "info";
        case Level::debug: return "debug";
        case Level::trace: return "trace";
    }
    return "?";
}

}  // namespace

void set_level(Level lvl) { g_level = lvl; }
Level level() { return g_level; }

bool parse_level(std::string_view text, Level& out) {
    static constexpr std::pair<std::string_view, Level> names[] = {
        {"error", Level::error}, {"warn", Level::warn}, {"warning", Level::warn},
        {"info", Level::info},   {"debug", Level::debug}, {"trace", Level::trace}};
    for (auto [n, l] : names)
        if (text == n) {
            out = l;
            return true;
        }
    return false;
}

void set_prefix(std::string prefix) {
    std::lock_guard lock(g_mutex);
    g_prefix = std::move(prefix);
}

void write(Level lvl, const std::string& text) {
    std::lock_guard lock(g_mutex);
    std::string line = g_prefix + ": " + name(lvl) + ": " + text + "\n";
    // One write(2) per line so lines from the supervisor and tracees do not interleave mid-line.
    ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
    (void)unused;
}

}  // namespace mrd::log
