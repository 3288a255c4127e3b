#include "tracer/remote/progress_line.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace mrd::tracer {

ProgressLine::ProgressLine()
    : start_(std::chrono::steady_clock::now()), after_(1000), terminal_(::isatty(STDERR_FILENO) == 1) {
    if (const char* ms = std::getenv("MIRRORD_PROGRESS_AFTER_MS")) after_ = std::chrono::milliseconds(std::atol(ms));
}

ProgressLine::~ProgressLine() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
}

void ProgressLine::update(const std::function<std::string()>& text) {
    if (!terminal_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - start_ < after_ || (shown_ && now - last_shown_ < std::chrono::milliseconds(100))) return;
    last_shown_ = now;
    shown_ = true;
    std::fprintf(stderr, "\r\033[K mirrord: %s", text().c_str());
    std::fflush(stderr);
}

}  // namespace mrd::tracer
