#include "tracer/gdb/gdb_inferior.hpp"

#include "tracer/gdb/gdb_protocol.hpp"
#include "tracer/ptrace/tracee_memory.hpp"
#include "base/text_file.hpp"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <sstream>
#include <vector>

namespace mrd::tracer::gdb {
namespace {

const char kTriple[] = "x86_64-pc-linux-gnu";

std::string xml_escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default: out += c;
        }
    }
    return out;
}

uint64_t auxv_value(const std::string& auxv, uint64_t type) {
    for (size_t i = 0; i + 16 <= auxv.size(); i += 16) {
        uint64_t entry[2];
        std::memcpy(entry, auxv.data() + i, sizeof entry);
        if (entry[0] == type) return entry[1];
    }
    return 0;
}

// The address of the program's r_debug (its DT_DEBUG entry), 0 if it has none yet.
uint64_t r_debug_address(pid_t pid) {
    std::string auxv = read_file("/proc/" + std::to_string(pid) + "/auxv").value_or("");
    uint64_t phdr = auxv_value(auxv, AT_PHDR), phnum = auxv_value(auxv, AT_PHNUM);
    if (!phdr || !phnum || phnum > 256) return 0;
    std::vector<Elf64_Phdr> headers(phnum);
    if (!read_memory(pid, phdr, headers.data(), headers.size() * sizeof(Elf64_Phdr))) return 0;
    std::optional<uint64_t> bias;  // where the program was loaded relative to its link addresses
    for (auto& h : headers)
        if (h.p_type == PT_PHDR) bias = phdr - h.p_vaddr;
    if (!bias) return 0;
    for (auto& h : headers) {
        if (h.p_type != PT_DYNAMIC) continue;
        for (uint64_t at = h.p_vaddr + *bias, n = 0; n < 1024; at += sizeof(Elf64_Dyn), ++n) {
            auto entry = read_value<Elf64_Dyn>(pid, at);
            if (!entry || entry->d_tag == DT_NULL) return 0;
            if (entry->d_tag == DT_DEBUG) return entry->d_un.d_ptr;
        }
    }
    return 0;
}

}  // namespace

std::string svr4_library_list(pid_t pid, bool with_main_lm) {
    const std::string empty = "<library-list-svr4 version=\"1.0\"/>";
    uint64_t r_debug = r_debug_address(pid);
    if (!r_debug) return empty;
    auto map = read_value<uint64_t>(pid, r_debug + offsetof(struct r_debug, r_map));
    if (!map || !*map) return empty;
    std::string libraries;
    uint64_t main_lm = *map;
    uint64_t lm = *map;
    for (int n = 0; lm && n < 4096; ++n) {
        auto entry = read_value<struct link_map>(pid, lm);
        if (!entry) break;
        auto name = read_string(pid, reinterpret_cast<uint64_t>(entry->l_name)).value_or("");
        if (lm != main_lm && !name.empty())  // the first entry is the program itself
            libraries += "<library name=\"" + xml_escape(name) + "\" lm=\"0x" + hex_number(lm) + "\" l_addr=\"0x" + hex_number(entry->l_addr) +
                         "\" l_ld=\"0x" + hex_number(reinterpret_cast<uint64_t>(entry->l_ld)) + "\"/>";
        lm = reinterpret_cast<uint64_t>(entry->l_next);
    }
    std::string main = with_main_lm ? " main-lm=\"0x" + hex_number(main_lm) + "\"" : "";
    return "<library-list-svr4 version=\"1.0\"" + main + ">" + libraries + "</library-list-svr4>";
}

std::string memory_region_info(pid_t pid, uint64_t addr) {
    std::istringstream maps(read_file("/proc/" + std::to_string(pid) + "/maps").value_or(""));
    uint64_t gap_start = 0;
    for (std::string line; std::getline(maps, line);) {
        std::istringstream fields(line);
        std::string range, perms, offset, device, inode, path;
        fields >> range >> perms >> offset >> device >> inode;
        std::getline(fields >> std::ws, path);
        auto dash = range.find('-');
        uint64_t start = std::stoull(range.substr(0, dash), nullptr, 16), end = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (addr < start) return "start:" + hex_number(gap_start) + ";size:" + hex_number(start - gap_start) + ";";
        if (addr < end) {
            std::string permissions;
            for (int i = 0; i < 3; ++i)
                if (perms.size() > 3 && perms[static_cast<size_t>(i)] != '-') permissions += perms[static_cast<size_t>(i)];
            std::string out = "start:" + hex_number(start) + ";size:" + hex_number(end - start) + ";permissions:" + permissions + ";";
            if (!path.empty()) out += "name:" + to_hex(std::string_view(path)) + ";";
            return out;
        }
        gap_start = end;
    }
    return "start:" + hex_number(gap_start) + ";size:" + hex_number(~uint64_t{0} - gap_start) + ";";
}

std::string host_info() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return "triple:" + to_hex(std::string_view(kTriple)) + ";ptrsize:8;endian:little;hostname:" + to_hex(std::string_view(name)) + ";";
}

std::string process_info(pid_t pid) {
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status").value_or(""));
    uint64_t ppid = 0, uid = 0, euid = 0, gid = 0, egid = 0;
    for (std::string line; std::getline(status, line);) {
        std::istringstream fields(line);
        std::string key;
        fields >> key;
        if (key == "PPid:") fields >> ppid;
        if (key == "Uid:") fields >> uid >> euid;
        if (key == "Gid:") fields >> gid >> egid;
    }
    std::string out = "pid:" + hex_number(static_cast<uint64_t>(pid)) + ";parent-pid:" + hex_number(ppid) + ";real-uid:" + hex_number(uid) + ";real-gid:" + hex_number(gid) +
                      ";effective-uid:" + hex_number(euid) + ";effective-gid:" + hex_number(egid) + ";";
    if (auto exe = read_link("/proc/" + std::to_string(pid) + "/exe")) out += "name:" + to_hex(std::string_view(*exe)) + ";";
    return out + "triple:" + to_hex(std::string_view(kTriple)) + ";ostype:linux;endian:little;ptrsize:8;";
}

}  // namespace mrd::tracer::gdb
