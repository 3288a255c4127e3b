// Reading and writing a stopped tracee's memory.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mrd::tracer {

Status read_memory(pid_t tid, uint64_t addr, void* out, size_t len);
// As the kernel writes a syscall's results: EFAULT where the program could not write.
Status write_memory(pid_t tid, uint64_t addr, const void* data, size_t len);
// As a debugger writes: read-only pages too (PTRACE_POKEDATA uses FOLL_FORCE). The thread must be
// in a ptrace stop.
Status poke_memory(pid_t tid, uint64_t addr, const void* data, size_t len);
// A NUL-terminated string of at most max bytes, read without crossing into unmapped pages.
Result<std::string> read_string(pid_t tid, uint64_t addr, size_t max = 4096);

template <class T>
Result<T> read_value(pid_t tid, uint64_t addr) {
    T value{};
    if (auto st = read_memory(tid, addr, &value, sizeof value); !st) return st.error();
    return value;
}

}  // namespace mrd::tracer
