#include "tracer/gdb/gdb_inferior.hpp"

#include "tracer/gdb/gdb_protocol.hpp"
#include "tracer/gdb/gdb_registers.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <sstream>

using namespace mrd::tracer::gdb;

namespace {
int marker_function() { return 42; }
}  // namespace

TEST_CASE("gdb inferior: this process's libraries, regions and identity, as a debugger sees them") {
    pid_t self = ::getpid();
    std::string gdb_list = svr4_library_list(self, true);
    CHECK(gdb_list.rfind("<library-list-svr4 version=\"1.0\" main-lm=\"0x", 0) == 0);
    CHECK(gdb_list.find("libc.so.6\" lm=\"0x") != std::string::npos);
    std::string lldb_list = svr4_library_list(self, false);
    CHECK(lldb_list.find("main-lm") == std::string::npos);  // lldb would take it for r_debug's pointer
    CHECK(lldb_list.find("libc.so.6") != std::string::npos);

    auto code = reinterpret_cast<uint64_t>(&marker_function);
    std::string region = memory_region_info(self, code);
    CHECK(region.find("permissions:rx;") != std::string::npos);
    CHECK(region.find("name:" + to_hex(std::string_view("/"))) != std::string::npos);
    CHECK(memory_region_info(self, 0).rfind("start:0;size:", 0) == 0);  // the gap below the program: no permissions
    CHECK(memory_region_info(self, 0).find("permissions") == std::string::npos);

    std::string info = process_info(self);
    std::ostringstream pid;
    pid << "pid:" << std::hex << self << ";";
    CHECK(info.rfind(pid.str(), 0) == 0);
    CHECK(info.find("triple:" + to_hex(std::string_view("x86_64-pc-linux-gnu"))) != std::string::npos);
    CHECK(host_info().find("ptrsize:8;endian:little;") != std::string::npos);
    CHECK(marker_function() == 42);
}

TEST_CASE("gdb registers: target.xml includes one document per feature, each with top-level regs") {
    auto top = target_description("target.xml");
    REQUIRE(top);
    for (const char* annex : {"64bit-core.xml", "64bit-sse.xml", "64bit-linux.xml", "64bit-segments.xml"}) {
        CHECK(top->find(std::string("<xi:include href=\"") + annex + "\"/>") != std::string::npos);
        auto feature = target_description(annex);
        REQUIRE(feature);
        CHECK(feature->find("\n<feature name=\"org.gnu.gdb.i386.") != std::string::npos);
        CHECK(feature->find("\n  <reg name=\"") != std::string::npos);
    }
    CHECK(target_description("64bit-core.xml")->find("<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>") != std::string::npos);
    CHECK_FALSE(target_description("64bit-avx.xml"));
}
