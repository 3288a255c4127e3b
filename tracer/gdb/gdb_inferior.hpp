// What a debugger asks about the debugged process besides registers and memory, in the remote
// protocol's formats: its shared libraries (qXfer:libraries-svr4, read from the dynamic linker's
// r_debug list, so PIE and library load addresses are known), its memory regions
// (qMemoryRegionInfo, from /proc/PID/maps), and lldb's qHostInfo and qProcessInfo.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace mrd::tracer::gdb {

// <library-list-svr4>: every loaded library, and for gdb the main program's link map (main-lm; lldb
// would take it for the address of r_debug's pointer, and lldb-server leaves it out). Empty for a
// static program, or before the dynamic linker has filled in r_debug.
std::string svr4_library_list(pid_t pid, bool with_main_lm);

// "start:…;size:…;permissions:rx;name:…;" for the region holding addr, or the gap around it.
std::string memory_region_info(pid_t pid, uint64_t addr);

std::string host_info();
std::string process_info(pid_t pid);

}  // namespace mrd::tracer::gdb
