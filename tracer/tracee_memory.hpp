// Reading and writing a stopped tracee's memory.
#pragma once

#include "wire/result.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mrd::tracer {

Status read_memory(pid_t tid, uint64_t addr, void* out, size_t len);
// Falls back to PTRACE_POKEDATA, which can write read-only pages (FOLL_FORCE).
Status write_memory(pid_t tid, uint64_t addr, const void* data, size_t len);
// A NUL-terminated string of at most max bytes, read without crossing into unmapped pages.
Result<std::string> read_string(pid_t tid, uint64_t addr, size_t max = 4096);

template <class T>
Result<T> read_value(pid_t tid, uint64_t addr) {
    T value{};
    if (auto st = read_memory(tid, addr, &value, sizeof value); !st) return st.error();
    return value;
}

}  // namespace mrd::tracer
