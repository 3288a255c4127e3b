#include "tracer/ptrace/notified_call.hpp"

#include "tracer/ptrace/seccomp_listener.hpp"
#include "tracer/ptrace/tracee_memory.hpp"

namespace mrd::tracer {

Verdict Verdict::result(long r) {
    Verdict v;
    v.kind = Kind::result;
    v.value = r;
    return v;
}

Verdict Verdict::install(UniqueFd fd, bool cloexec) {
    Verdict v;
    v.kind = Kind::install_fd;
    v.fd = std::move(fd);
    v.cloexec = cloexec;
    return v;
}

Verdict Verdict::replace(UniqueFd fd, int at, bool cloexec, long r) {
    Verdict v = install(std::move(fd), cloexec);
    v.at = at;
    v.value = r;
    return v;
}

bool Call::waiting() const { return listener_.valid(id_); }

bool Call::read_bytes(uint64_t addr, void* out, size_t len) const { return read_memory(tid_, addr, out, len).ok(); }

Result<std::string> Call::read_string(uint64_t addr, size_t max) const { return tracer::read_string(tid_, addr, max); }

bool Call::write(uint64_t addr, const void* data, size_t len) const { return write_memory(tid_, addr, data, len).ok(); }

}  // namespace mrd::tracer
