#include "base/process_tuning.hpp"

#include <malloc.h>

namespace mrd {

void tune_allocator() {
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace mrd
