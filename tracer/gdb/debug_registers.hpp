// x86-64 debug registers for gdb's hardware breakpoints and watchpoints (Z1, Z2, Z4). Four slots,
// the same in every thread of the debugged process; a new thread starts with none, so each gets them
// when it appears. A range is split into aligned pieces of 1, 2, 4 or 8 bytes, a slot each.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace mrd::tracer {

class DebugRegisters {
public:
    enum class Kind { execute, write, access };  // x86 cannot watch reads alone
    struct Slot {
        Kind kind;
        uint64_t addr;
        size_t len;
        bool operator==(const Slot&) const = default;
    };

    // False when the slots cannot hold it (the thread registers are not touched: see apply).
    bool insert(Kind kind, uint64_t addr, size_t len);
    bool remove(Kind kind, uint64_t addr, size_t len);
    void clear() { slots_ = {}; }
    bool empty() const;

    // Writes DR0-DR3 and DR7 of a stopped thread.
    Status apply(pid_t tid) const;
    // The slot whose condition stopped this thread (from DR6, then cleared), if any.
    std::optional<Slot> take_hit(pid_t tid) const;

    // The aligned pieces a range needs, each a slot (exposed for tests).
    static std::vector<Slot> pieces(Kind kind, uint64_t addr, size_t len);
    // DR7 for these slots (exposed for tests).
    uint64_t control() const;

private:
    std::array<std::optional<Slot>, 4> slots_;
};

}  // namespace mrd::tracer
