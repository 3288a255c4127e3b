// What the supervisor knows about each traced thread, its process and its address space.
#pragma once

#include "base/co.hpp"
#include "base/unique_fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace mrd::tracer {

// One ptrace stop as waitpid reported it, classified.
struct Stop {
    enum class Kind { seccomp, syscall, signal, group_stop, event, exited };
    Kind kind = Kind::exited;
    int status = 0;
    int signal = 0;  // the stop signal, or the terminating one for exited
    int event = 0;   // PTRACE_EVENT_* for seccomp/event/group_stop

    static Stop classify(int status);
    bool is_exit() const { return kind == Kind::exited; }
};

// Memory the supervisor maps into each traced address space for rewritten syscall arguments (paths,
// sockaddrs) that do not fit in place. It is carved into slots; a slot is held by one in-flight
// syscall, so threads never share one.
class AddressSpace {
public:
    static constexpr size_t kSlotSize = 16384;
    static constexpr size_t kSlots = 256;
    static constexpr size_t kSize = kSlotSize * kSlots;

    explicit AddressSpace(uint64_t scratch = 0) : scratch_(scratch), used_(kSlots, false) {}
    bool has_scratch() const { return scratch_ != 0; }
    uint64_t scratch() const { return scratch_; }
    void set_scratch(uint64_t base) { scratch_ = base; }
    std::optional<uint64_t> acquire();
    void release(uint64_t slot);

private:
    uint64_t scratch_;
    std::vector<bool> used_;
};

// A borrowed slot, returned when it goes out of scope.
class ScratchSlot {
public:
    ScratchSlot() = default;
    ScratchSlot(std::shared_ptr<AddressSpace> mm, uint64_t addr) : mm_(std::move(mm)), addr_(addr) {}
    ScratchSlot(ScratchSlot&& o) noexcept : mm_(std::move(o.mm_)), addr_(std::exchange(o.addr_, 0)) {}
    ScratchSlot& operator=(ScratchSlot&& o) noexcept {
        std::swap(mm_, o.mm_);
        std::swap(addr_, o.addr_);
        return *this;
    }
    ~ScratchSlot() { if (mm_ && addr_) mm_->release(addr_); }
    uint64_t addr() const { return addr_; }
    explicit operator bool() const { return addr_ != 0; }

private:
    std::shared_ptr<AddressSpace> mm_;
    uint64_t addr_ = 0;
};

struct Process {
    explicit Process(pid_t pid) : pid(pid) {}
    pid_t pid;
    bool compat = false;        // a 32-bit program: its syscalls are left alone
    bool compat_warned = false;
    bool frozen = false;        // stopped by a debugger: resumes wait until it continues
    // A pidfd for pidfd_getfd(); opened on first use.
    int pidfd();
    // A duplicate of the program's descriptor fd (the same open file or socket); invalid if gone.
    UniqueFd duplicate(int fd);

private:
    UniqueFd pidfd_;
};

class Tracee {
public:
    Tracee(pid_t tid, std::shared_ptr<Process> process, std::shared_ptr<AddressSpace> mm)
        : tid(tid), process(std::move(process)), mm(std::move(mm)) {}

    // Resumes (PTRACE_CONT, PTRACE_SYSCALL, PTRACE_LISTEN...) and forgets the stop. While the
    // process is frozen by a debugger the resume is held back until release().
    void resume(int request, int signal = 0);
    // For the debugger: resume now, frozen or not.
    void force_resume(int request, int signal = 0);
    // Performs a held-back resume; false if there was none.
    bool release();
    bool stepping = false;  // a debugger single-steps it: a plain continue becomes a single step
    bool kept_stopped = false;  // a debugger keeps this thread stopped while others run: resumes wait, as when frozen
    bool in_stop = false;   // in a ptrace stop (reported, not yet resumed)
    // Resumes and waits for this tracee's next stop; exited when it dies meanwhile.
    co::Task<Stop> resume_and_wait(int request, int signal = 0);
    // The supervisor hands a stop to whoever waits for one; false when nobody does.
    bool deliver(const Stop& stop);

    ScratchSlot scratch_slot();

    pid_t tid;
    std::shared_ptr<Process> process;
    std::shared_ptr<AddressSpace> mm;
    bool alive = true;
    bool attached = false;  // the initial stop of an auto-attached child was seen

private:
    std::optional<co::Promise<Stop>> waiter_;
    std::optional<std::pair<int, int>> held_;  // request, signal
};

}  // namespace mrd::tracer
