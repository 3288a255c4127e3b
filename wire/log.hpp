// Leveled logging to stderr, safe from several threads. The level comes from the program's flags or
// MIRRORD_LOG (error, warn, info, debug, trace).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace mrd::log {

enum class Level { error = 0, warn, info, debug, trace };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);
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
