#include "tracer/gdb/gdb_registers.hpp"

#include "tracer/gdb/gdb_protocol.hpp"

#include <signal.h>
#include <sys/ptrace.h>

#include <cstring>
#include <map>
#include <vector>

namespace mrd::tracer::gdb {
namespace {

// Where each register lives: a byte range of one of the two ptrace register sets, or nothing
// (reads as zeros, writes are ignored).
struct Reg {
    size_t size;                          // bytes in the protocol
    size_t gp_offset = SIZE_MAX;          // in user_regs_struct
    size_t fp_offset = SIZE_MAX;          // in user_fpregs_struct
};

#define GP(field) offsetof(user_regs_struct, field)
#define FP(field) offsetof(user_fpregs_struct, field)

const std::vector<Reg>& layout() {
    static const std::vector<Reg> regs = [] {
        std::vector<Reg> r = {
            {8, GP(rax)}, {8, GP(rbx)}, {8, GP(rcx)}, {8, GP(rdx)}, {8, GP(rsi)}, {8, GP(rdi)}, {8, GP(rbp)}, {8, GP(rsp)},
            {8, GP(r8)}, {8, GP(r9)}, {8, GP(r10)}, {8, GP(r11)}, {8, GP(r12)}, {8, GP(r13)}, {8, GP(r14)}, {8, GP(r15)},
            {8, GP(rip)}, {4, GP(eflags)},
            {4, GP(cs)}, {4, GP(ss)}, {4, GP(ds)}, {4, GP(es)}, {4, GP(fs)}, {4, GP(gs)},
        };
        for (size_t i = 0; i < 8; ++i) r.push_back({10, SIZE_MAX, FP(st_space) + i * 16});  // st0-7
        r.push_back({4, SIZE_MAX, FP(cwd)});   // fctrl (2 bytes, zero-extended)
        r.push_back({4, SIZE_MAX, FP(swd)});   // fstat
        r.push_back({4, SIZE_MAX, FP(ftw)});   // ftag
        r.push_back({4});                      // fiseg
        r.push_back({4, SIZE_MAX, FP(rip)});   // fioff
        r.push_back({4});                      // foseg
        r.push_back({4, SIZE_MAX, FP(rdp)});   // fooff
        r.push_back({4, SIZE_MAX, FP(fop)});   // fop
        for (size_t i = 0; i < 16; ++i) r.push_back({16, SIZE_MAX, FP(xmm_space) + i * 16});  // xmm0-15
        r.push_back({4, SIZE_MAX, FP(mxcsr)});
        r.push_back({8, GP(orig_rax)});
        r.push_back({8, GP(fs_base)});
        r.push_back({8, GP(gs_base)});
        return r;
    }();
    return regs;
}

// The byte span of a register inside its ptrace set (some protocol slots are wider than the field).
size_t field_size(int regno, const Reg& reg) {
    if (regno >= 32 && regno <= 35) return 2;  // fctrl, fstat, ftag, (fiseg none)
    if (regno == 39) return 2;                 // fop
    return reg.size;
}

std::string encode(const RegisterFile& f, int regno) {
    const Reg& reg = layout()[static_cast<size_t>(regno)];
    uint8_t bytes[16] = {};
    size_t n = std::min(field_size(regno, reg), reg.size);
    if (reg.gp_offset != SIZE_MAX) std::memcpy(bytes, reinterpret_cast<const char*>(&f.gp) + reg.gp_offset, n);
    else if (reg.fp_offset != SIZE_MAX) std::memcpy(bytes, reinterpret_cast<const char*>(&f.fp) + reg.fp_offset, n);
    return to_hex(bytes, reg.size);
}

bool decode(RegisterFile& f, int regno, std::string_view hex) {
    const Reg& reg = layout()[static_cast<size_t>(regno)];
    auto bytes = from_hex(hex);
    if (!bytes || bytes->size() != reg.size) return false;
    size_t n = std::min(field_size(regno, reg), reg.size);
    if (reg.gp_offset != SIZE_MAX) std::memcpy(reinterpret_cast<char*>(&f.gp) + reg.gp_offset, bytes->data(), n);
    else if (reg.fp_offset != SIZE_MAX) std::memcpy(reinterpret_cast<char*>(&f.fp) + reg.fp_offset, bytes->data(), n);
    return true;
}

std::string regs_xml(const char* const* names, int count, int bits, const char* type, const char* group = nullptr) {
    std::string out;
    for (int i = 0; i < count; ++i) {
        out += std::string("  <reg name=\"") + names[i] + "\" bitsize=\"" + std::to_string(bits) + "\" type=\"" + type + "\"";
        if (group) out += std::string(" group=\"") + group + "\"";
        out += "/>\n";
    }
    return out;
}

}  // namespace

// The target description as gdb's own x86-64 Linux one is laid out: target.xml includes one document
// per feature. Delve reads only <reg>s at a document's top level, so features are not inlined.
std::optional<std::string> target_description(const std::string& annex) {
    static const char* gp[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi"};
    static const char* ptrs[] = {"rbp", "rsp"};
    static const char* hi[] = {"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
    static const char* segs[] = {"cs", "ss", "ds", "es", "fs", "gs"};
    static const char* st[] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};
    static const char* fpc[] = {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"};
    static const char* xmm[] = {"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                                "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
    static const std::map<std::string, std::string> features = [] {
        std::map<std::string, std::string> f;
        std::string core;
        core += regs_xml(gp, 6, 64, "int64");
        core += regs_xml(ptrs, 2, 64, "data_ptr");
        core += regs_xml(hi, 8, 64, "int64");
        core += "  <reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n  <reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>\n";
        core += regs_xml(segs, 6, 32, "int32");
        core += regs_xml(st, 8, 80, "i387_ext");
        core += regs_xml(fpc, 8, 32, "int", "float");
        f["64bit-core.xml"] = "org.gnu.gdb.i386.core\">\n" + core;
        std::string sse =
            "  <vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
            "  <vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
            "  <vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
            "  <vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
            "  <vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
            "  <vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
            "  <union id=\"vec128\">\n"
            "    <field name=\"v4_float\" type=\"v4f\"/>\n    <field name=\"v2_double\" type=\"v2d\"/>\n"
            "    <field name=\"v16_int8\" type=\"v16i8\"/>\n    <field name=\"v8_int16\" type=\"v8i16\"/>\n"
            "    <field name=\"v4_int32\" type=\"v4i32\"/>\n    <field name=\"v2_int64\" type=\"v2i64\"/>\n"
            "    <field name=\"uint128\" type=\"uint128\"/>\n  </union>\n";
        sse += regs_xml(xmm, 16, 128, "vec128");
        sse += "  <reg name=\"mxcsr\" bitsize=\"32\" type=\"int\" group=\"vector\"/>\n";
        f["64bit-sse.xml"] = "org.gnu.gdb.i386.sse\">\n" + sse;
        f["64bit-linux.xml"] = "org.gnu.gdb.i386.linux\">\n  <reg name=\"orig_rax\" bitsize=\"64\" type=\"int\" regnum=\"57\"/>\n";
        f["64bit-segments.xml"] =
            "org.gnu.gdb.i386.segments\">\n  <reg name=\"fs_base\" bitsize=\"64\" type=\"int\"/>\n"
            "  <reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n";
        for (auto& [name, body] : f)
            body = "<?xml version=\"1.0\"?>\n<!DOCTYPE feature SYSTEM \"gdb-target.dtd\">\n<feature name=\"" + body + "</feature>\n";
        return f;
    }();
    if (annex == "target.xml") {
        std::string x = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
                        "  <architecture>i386:x86-64</architecture>\n  <osabi>GNU/Linux</osabi>\n";
        for (const char* name : {"64bit-core.xml", "64bit-sse.xml", "64bit-linux.xml", "64bit-segments.xml"})
            x += std::string("  <xi:include href=\"") + name + "\"/>\n";
        return x + "</target>\n";
    }
    auto it = features.find(annex);
    if (it == features.end()) return std::nullopt;
    return it->second;
}

Result<RegisterFile> read_registers(pid_t tid) {
    RegisterFile f;
    if (::ptrace(PTRACE_GETREGS, tid, nullptr, &f.gp) != 0) return Error::from_errno("PTRACE_GETREGS");
    if (::ptrace(PTRACE_GETFPREGS, tid, nullptr, &f.fp) != 0) return Error::from_errno("PTRACE_GETFPREGS");
    return f;
}

Status write_registers(pid_t tid, const RegisterFile& f) {
    if (::ptrace(PTRACE_SETREGS, tid, nullptr, &f.gp) != 0) return Error::from_errno("PTRACE_SETREGS");
    if (::ptrace(PTRACE_SETFPREGS, tid, nullptr, &f.fp) != 0) return Error::from_errno("PTRACE_SETFPREGS");
    return {};
}

std::string encode_all(const RegisterFile& f) {
    std::string out;
    for (int i = 0; i < static_cast<int>(layout().size()); ++i) out += encode(f, i);
    return out;
}

bool decode_all(std::string_view hex, RegisterFile& f) {
    size_t pos = 0;
    for (int i = 0; i < static_cast<int>(layout().size()); ++i) {
        size_t n = layout()[static_cast<size_t>(i)].size * 2;
        if (pos + n > hex.size()) return pos == hex.size();  // gdb may send a prefix
        if (!decode(f, i, hex.substr(pos, n))) return false;
        pos += n;
    }
    return true;
}

std::optional<std::string> encode_one(const RegisterFile& f, int regno) {
    if (regno < 0 || regno >= static_cast<int>(layout().size())) return std::nullopt;
    return encode(f, regno);
}

bool decode_one(RegisterFile& f, int regno, std::string_view hex) {
    if (regno < 0 || regno >= static_cast<int>(layout().size())) return false;
    return decode(f, regno, hex);
}

namespace {
// Linux signal n -> GDB's number (index n); 0 where GDB has no equivalent.
constexpr int kToGdb[32] = {0,  1,  2,  3,  4,  5,  6,  10, 8,  9,  30, 11, 31, 13, 14, 15,
                            0,  20, 19, 17, 18, 21, 22, 16, 24, 25, 26, 27, 28, 23, 32, 12};
}  // namespace

int signal_to_gdb(int s) { return s >= 0 && s < 32 ? kToGdb[s] : 0; }

int signal_from_gdb(int g) {
    for (int s = 0; s < 32; ++s)
        if (kToGdb[s] == g && g != 0) return s;
    return 0;
}

}  // namespace mrd::tracer::gdb
