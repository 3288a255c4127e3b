#include "tracer/ptrace/tracee.hpp"

#include "base/log.hpp"

#include <signal.h>
#include <cstring>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

namespace mrd::tracer {

Stop Stop::classify(int status) {
    Stop s;
    s.status = status;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
        s.kind = Kind::exited;
        s.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        return s;
    }
    s.signal = WSTOPSIG(status);
    s.event = (status >> 16) & 0xff;
    if (s.signal == (SIGTRAP | 0x80)) s.kind = Kind::syscall;
    else if (s.event == PTRACE_EVENT_SECCOMP) s.kind = Kind::seccomp;
    else if (s.event == PTRACE_EVENT_STOP) s.kind = Kind::group_stop;
    else if (s.event != 0) s.kind = Kind::event;
    else s.kind = Kind::signal;
    return s;
}

std::optional<uint64_t> AddressSpace::acquire() {
    if (!scratch_) return std::nullopt;
    for (size_t i = 0; i < kSlots; ++i)
        if (!used_[i]) {
            used_[i] = true;
            return scratch_ + i * kSlotSize;
        }
    return std::nullopt;
}

void AddressSpace::release(uint64_t slot) {
    if (slot < scratch_) return;
    size_t i = (slot - scratch_) / kSlotSize;
    if (i < kSlots) used_[i] = false;
}

int Process::pidfd() {
    if (!pidfd_) pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    return pidfd_.get();
}

UniqueFd Process::duplicate(int fd) {
    int pid_fd = pidfd();
    if (pid_fd < 0 || fd < 0) return UniqueFd();
    return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_getfd, pid_fd, fd, 0)));
}

void Tracee::resume(int request, int signal) {
    if (!alive) return;
    if ((process->frozen || kept_stopped) && request != PTRACE_LISTEN) {
        held_ = {request, signal};
        return;
    }
    force_resume(request, signal);
}

bool Tracee::release() {
    if (!held_) return false;
    auto [request, signal] = *held_;
    held_.reset();
    force_resume(request, signal);
    return true;
}

void Tracee::force_resume(int request, int signal) {
    if (!alive) return;
    if (stepping && request == PTRACE_CONT) request = PTRACE_SINGLESTEP;
    in_stop = false;
    if (::ptrace(static_cast<__ptrace_request>(request), tid, nullptr, reinterpret_cast<void*>(static_cast<long>(signal))) != 0 &&
        errno != ESRCH)
        log::debug("ptrace resume ", request, " of ", tid, ": ", std::strerror(errno));
}

co::Task<Stop> Tracee::resume_and_wait(int request, int signal) {
    if (!alive) co_return Stop{};
    co::Promise<Stop> next;
    waiter_ = next;
    resume(request, signal);
    co_return co_await next.wait();
}

bool Tracee::deliver(const Stop& stop) {
    if (!waiter_) return false;
    auto waiter = std::move(*waiter_);
    waiter_.reset();
    waiter.set(stop);
    return true;
}

ScratchSlot Tracee::scratch_slot() {
    auto addr = mm->acquire();
    if (!addr) return {};
    return ScratchSlot(mm, *addr);
}

}  // namespace mrd::tracer
