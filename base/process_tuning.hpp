// Process-wide settings both binaries apply at start-up.
#pragma once

namespace mrd {

// Megabyte-sized message buffers are allocated and freed constantly; keep them in the heap instead
// of mmap/munmap per buffer, whose page faults dominate a bulk transfer (notably in VMs).
void tune_allocator();

}  // namespace mrd
