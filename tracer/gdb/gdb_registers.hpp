// x86-64 registers as GDB's remote protocol lays them out: the target description we send
// (core, SSE, Linux orig_rax, fs/gs bases) and the conversion from/to ptrace's register sets.
#pragma once

#include "base/result.hpp"

#include <sys/types.h>
#include <sys/user.h>

#include <optional>
#include <string>
#include <string_view>

namespace mrd::tracer::gdb {

// qXfer:features:read: "target.xml" and the feature documents it includes.
std::optional<std::string> target_description(const std::string& annex);

struct RegisterFile {
    user_regs_struct gp{};
    user_fpregs_struct fp{};
};

Result<RegisterFile> read_registers(pid_t tid);
Status write_registers(pid_t tid, const RegisterFile& regs);

std::string encode_all(const RegisterFile& regs);                   // 'g'
bool decode_all(std::string_view hex, RegisterFile& regs);          // 'G'
std::optional<std::string> encode_one(const RegisterFile& regs, int regno);    // 'p'
bool decode_one(RegisterFile& regs, int regno, std::string_view hex);          // 'P'

// Linux signal numbers <-> GDB's own numbering.
int signal_to_gdb(int linux_signal);
int signal_from_gdb(int gdb_signal);

}  // namespace mrd::tracer::gdb
