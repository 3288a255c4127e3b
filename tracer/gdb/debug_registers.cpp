#include "tracer/gdb/debug_registers.hpp"

#include <sys/ptrace.h>
#include <sys/user.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace mrd::tracer {
namespace {

long debugreg_offset(int n) { return static_cast<long>(offsetof(struct user, u_debugreg) + n * sizeof(unsigned long)); }

Status poke_debugreg(pid_t tid, int n, uint64_t value) {
    if (::ptrace(PTRACE_POKEUSER, tid, debugreg_offset(n), value) != 0)
        return Error::from_errno("setting debug register " + std::to_string(n) + " of thread " + std::to_string(tid));
    return {};
}

}  // namespace

std::vector<DebugRegisters::Slot> DebugRegisters::pieces(Kind kind, uint64_t addr, size_t len) {
    if (kind == Kind::execute) return {{kind, addr, 1}};  // an instruction breakpoint has length 1
    std::vector<Slot> out;
    while (len > 0) {
        size_t size = 8;
        while (size > 1 && (addr % size != 0 || size > len)) size /= 2;
        out.push_back({kind, addr, size});
        addr += size;
        len -= size;
    }
    return out;
}

bool DebugRegisters::insert(Kind kind, uint64_t addr, size_t len) {
    auto wanted = pieces(kind, addr, len);
    auto free = static_cast<size_t>(std::count(slots_.begin(), slots_.end(), std::nullopt));
    if (wanted.empty() || wanted.size() > free) return false;
    for (auto& piece : wanted) *std::find(slots_.begin(), slots_.end(), std::nullopt) = piece;
    return true;
}

bool DebugRegisters::remove(Kind kind, uint64_t addr, size_t len) {
    bool found = false;
    for (auto& piece : pieces(kind, addr, len))
        if (auto it = std::find(slots_.begin(), slots_.end(), std::optional<Slot>(piece)); it != slots_.end()) {
            it->reset();
            found = true;
        }
    return found;
}

bool DebugRegisters::empty() const { return std::all_of(slots_.begin(), slots_.end(), [](auto& s) { return !s; }); }

uint64_t DebugRegisters::control() const {
    uint64_t dr7 = 0;
    for (unsigned i = 0; i < slots_.size(); ++i) {
        if (!slots_[i]) continue;
        const Slot& s = *slots_[i];
        uint64_t rw = s.kind == Kind::execute ? 0b00 : s.kind == Kind::write ? 0b01 : 0b11;
        uint64_t len = s.len == 1 ? 0b00 : s.len == 2 ? 0b01 : s.len == 8 ? 0b10 : 0b11;
        dr7 |= 1ull << (2 * i);  // local enable
        dr7 |= (rw | len << 2) << (16 + 4 * i);
    }
    return dr7;
}

Status DebugRegisters::apply(pid_t tid) const {
    // Disabled first: the kernel checks each address against its slot's current length.
    if (auto st = poke_debugreg(tid, 7, 0); !st) return st;
    for (int i = 0; i < 4; ++i)
        if (slots_[static_cast<size_t>(i)])
            if (auto st = poke_debugreg(tid, i, slots_[static_cast<size_t>(i)]->addr); !st) return st;
    return poke_debugreg(tid, 7, control());
}

std::optional<DebugRegisters::Slot> DebugRegisters::take_hit(pid_t tid) const {
    errno = 0;
    long dr6 = ::ptrace(PTRACE_PEEKUSER, tid, debugreg_offset(6), nullptr);
    if (errno != 0) return std::nullopt;
    (void)poke_debugreg(tid, 6, 0);  // DR6 is sticky
    for (size_t i = 0; i < slots_.size(); ++i)
        if ((dr6 & (1l << i)) && slots_[i]) return slots_[i];
    return std::nullopt;
}

}  // namespace mrd::tracer
