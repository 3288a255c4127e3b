// Leveled logging to stderr, safe from several threads. The level comes from the program's flags,
// MIRRORD_LOG (error, warn, info, debug, trace) or RUST_LOG (mirrord's filters, below).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace mrd::log {

enum class Level { error = 0, warn, info, debug, trace };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);
// A RUST_LOG-style filter as mirrord takes it ("warn,mirrord=debug", "mirrord_agent=trace", "info"):
// the most verbose level among the directives for all targets or for mirrord's own ("mirrord",
// "mirrord_agent", "mirrord::..."); fallback when none applies. Directives that cannot be read
// are skipped (listed in `skipped`), as tracing's EnvFilter skips them.
Level level_from_filter(std::string_view filter, Level fallback, std::string* skipped = nullptr);
void set_prefix(std::string prefix);  // e.g. "mirrord-agent"
void write(Level level, const std::string& text);

template <class... Args>
void at(Level lvl, const Args&... args) {
    if (lvl > level()) return;
    std::ostringstream out;
    (out << ... << args);
    write(lvl, out.str());
}

template <class... Args> void error(const Args&... a) { at(Level::error, a...); }
template <class... Args> void warn(const Args&... a) { at(Level::warn, a...); }
template <class... Args> void info(const Args&... a) { at(Level::info, a...); }
template <class... Args> void debug(const Args&... a) { at(Level::debug, a...); }
template <class... Args> void trace(const Args&... a) { at(Level::trace, a...); }

}  // namespace mrd::log
