#include "tracer/fetch_progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace mrd::tracer {

FetchProgress::FetchProgress(std::string path, uint64_t total)
    : path_(std::move(path)), total_(total), start_(std::chrono::steady_clock::now()), after_(1000),
      terminal_(::isatty(STDERR_FILENO) == 1) {
    if (const char* ms = std::getenv("MIRRORD_PROGRESS_AFTER_MS")) after_ = std::chrono::milliseconds(std::atol(ms));
}

FetchProgress::~FetchProgress() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
}

void FetchProgress::advance(uint64_t bytes) {
    done_ += bytes;
    if (!terminal_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - start_ < after_ || (shown_ && now - last_shown_ < std::chrono::milliseconds(100))) return;
    last_shown_ = now;
    shown_ = true;
    double mb = 1024.0 * 1024.0;
    std::fprintf(stderr, "\r\033[K mirrord: fetching %s from the target: %.1f of %.1f MB", path_.c_str(), static_cast<double>(done_) / mb,
                 static_cast<double>(total_) / mb);
    std::fflush(stderr);
}

}  // namespace mrd::tracer
