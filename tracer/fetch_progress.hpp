// A one-line progress report for a remote file fetch a person would notice: only on a terminal
// (stderr), only once the fetch has taken a second (MIRRORD_PROGRESS_AFTER_MS to change that), at
// most ten times a second, and erased when the fetch ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mrd::tracer {

class FetchProgress {
public:
    FetchProgress(std::string path, uint64_t total);
    ~FetchProgress();  // erases the line, if one was shown
    void advance(uint64_t bytes);

private:
    std::string path_;
    uint64_t total_, done_ = 0;
    std::chrono::steady_clock::time_point start_, last_shown_;
    std::chrono::milliseconds after_;
    bool terminal_, shown_ = false;
};

}  // namespace mrd::tracer
