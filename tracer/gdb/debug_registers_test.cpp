#include "tracer/gdb/debug_registers.hpp"

#include <catch2/catch.hpp>

using namespace mrd::tracer;
using Kind = DebugRegisters::Kind;

TEST_CASE("debug registers: ranges become aligned pieces") {
    CHECK(DebugRegisters::pieces(Kind::write, 0x1000, 8) == std::vector<DebugRegisters::Slot>{{Kind::write, 0x1000, 8}});
    CHECK(DebugRegisters::pieces(Kind::write, 0x1003, 4) ==
          std::vector<DebugRegisters::Slot>{{Kind::write, 0x1003, 1}, {Kind::write, 0x1004, 2}, {Kind::write, 0x1006, 1}});
    CHECK(DebugRegisters::pieces(Kind::access, 0x1004, 12) ==
          std::vector<DebugRegisters::Slot>{{Kind::access, 0x1004, 4}, {Kind::access, 0x1008, 8}});
    CHECK(DebugRegisters::pieces(Kind::execute, 0x401234, 1) == std::vector<DebugRegisters::Slot>{{Kind::execute, 0x401234, 1}});
}

TEST_CASE("debug registers: four slots, DR7 encodes each") {
    DebugRegisters regs;
    CHECK(regs.empty());
    REQUIRE(regs.insert(Kind::execute, 0x401000, 1));
    REQUIRE(regs.insert(Kind::write, 0x602000, 4));
    CHECK(regs.control() == (0b01 | 0b0100 | (0b1101ull << 20)));  // slot 1: write, 4 bytes
    REQUIRE(regs.insert(Kind::access, 0x603000, 16));                 // two 8-byte pieces
    CHECK_FALSE(regs.insert(Kind::write, 0x604000, 1));               // full
    CHECK(regs.remove(Kind::access, 0x603000, 16));
    CHECK(regs.insert(Kind::write, 0x604000, 1));
    CHECK_FALSE(regs.remove(Kind::write, 0x700000, 1));
    regs.clear();
    CHECK(regs.empty());
    CHECK(regs.control() == 0);
}
