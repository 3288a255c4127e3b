#include "base/co.hpp"

#include "base/log.hpp"

namespace mrd::co::detail {

void report_detached_exception(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        log::error("internal error in a syscall handler: ", ex.what());
    } catch (...) {
        log::error("internal error in a syscall handler");
    }
}

}  // namespace mrd::co::detail
