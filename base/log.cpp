#include "base/log.hpp"
#include "base/text_file.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>

namespace mrd::log {
namespace {

Level initial_level() {
    Level lvl = Level::warn;
    if (const char* env = std::getenv("MIRRORD_LOG")) parse_level(env, lvl);
    else if (const char* rust = std::getenv("RUST_LOG")) lvl = level_from_filter(rust, lvl);
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

Level level_from_filter(std::string_view filter, Level fallback, std::string* skipped) {
    std::optional<Level> found;
    size_t start = 0;
    while (start <= filter.size()) {
        size_t comma = filter.find(',', start);
        std::string directive(filter.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        start = comma == std::string_view::npos ? filter.size() + 1 : comma + 1;
        directive.erase(0, directive.find_first_not_of(" \t"));
        directive.erase(directive.find_last_not_of(" \t") + 1);
        if (directive.empty()) continue;
        std::string target, level_text;
        if (auto eq = directive.rfind('='); eq != std::string::npos) {
            target = directive.substr(0, eq);
            level_text = directive.substr(eq + 1);
        } else {
            Level probe;
            std::string lower = to_lower(directive);
            if (parse_level(lower, probe) || lower == "off") level_text = directive;
            else target = directive, level_text = "trace";  // a bare target: everything from it
        }
        if (auto span = target.find('['); span != std::string::npos) target.resize(span);  // span filters
        level_text = to_lower(level_text);
        Level level = Level::error;
        if (level_text != "off" && !parse_level(level_text, level)) {
            if (skipped) *skipped += (skipped->empty() ? "" : ", ") + directive;
            continue;
        }
        if (!target.empty() && target.rfind("mirrord", 0) != 0) continue;  // another crate's
        if (!found || level > *found) found = level;
    }
    return found.value_or(fallback);
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
