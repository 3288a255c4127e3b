#include "tracer/ptrace/tracee_memory.hpp"

#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cstring>

namespace mrd::tracer {

Status read_memory(pid_t tid, uint64_t addr, void* out, size_t len) {
    iovec local{out, len}, remote{reinterpret_cast<void*>(addr), len};
    ssize_t n = ::process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n == static_cast<ssize_t>(len)) return {};
    return Error::from_errno("reading tracee memory", n < 0 ? errno : EFAULT);
}

Status write_memory(pid_t tid, uint64_t addr, const void* data, size_t len) {
    iovec local{const_cast<void*>(data), len}, remote{reinterpret_cast<void*>(addr), len};
    ssize_t n = ::process_vm_writev(tid, &local, 1, &remote, 1, 0);
    if (n == static_cast<ssize_t>(len)) return {};
    return Error::from_errno("writing tracee memory", n < 0 ? errno : EFAULT);
}

Status poke_memory(pid_t tid, uint64_t addr, const void* data, size_t len) {
    if (write_memory(tid, addr, data, len)) return {};
    const char* src = static_cast<const char*>(data);
    for (size_t off = 0; off < len; off += sizeof(long)) {
        long word = 0;
        size_t n = std::min(sizeof(long), len - off);
        if (n < sizeof(long)) {
            errno = 0;
            word = ::ptrace(PTRACE_PEEKDATA, tid, addr + off, nullptr);
            if (errno) return Error::from_errno("writing tracee memory");
        }
        std::memcpy(&word, src + off, n);
        if (::ptrace(PTRACE_POKEDATA, tid, addr + off, word) != 0) return Error::from_errno("writing tracee memory");
    }
    return {};
}

Result<std::string> read_string(pid_t tid, uint64_t addr, size_t max) {
    std::string out;
    char page[4096];
    while (out.size() < max) {
        size_t chunk = std::min<size_t>(4096 - (addr & 4095), max - out.size());
        if (auto st = read_memory(tid, addr, page, chunk); !st) return st.error();
        if (const void* nul = std::memchr(page, 0, chunk)) {
            out.append(page, static_cast<const char*>(nul) - page);
            return out;
        }
        out.append(page, chunk);
        addr += chunk;
    }
    return Error::msg("string in tracee memory is longer than " + std::to_string(max) + " bytes", ENAMETOOLONG);
}

}  // namespace mrd::tracer
