// A one-line progress report for a wait a person would notice (a large file fetch, a reconnect):
// only on a terminal (stderr), only once the wait has lasted a second (MIRRORD_PROGRESS_AFTER_MS to
// change that), at most ten times a second, and erased when the wait ends.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace mrd::tracer {

class ProgressLine {
public:
    ProgressLine();
    ~ProgressLine();  // erases the line, if one was shown
    ProgressLine(const ProgressLine&) = delete;
    // Shows what `text` says now, when it is time to show anything (text is not called otherwise).
    void update(const std::function<std::string()>& text);

private:
    std::chrono::steady_clock::time_point start_, last_shown_;
    std::chrono::milliseconds after_;
    bool terminal_, shown_ = false;
};

}  // namespace mrd::tracer
