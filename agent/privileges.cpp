#include "agent/privileges.hpp"

#include "base/text_file.hpp"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace mrd::agent {

Status drop_privileges(const std::vector<int>& keep) {
    int last = std::atoi(read_file("/proc/sys/kernel/cap_last_cap").value_or("40").c_str());
    auto kept = [&](int cap) { return std::find(keep.begin(), keep.end(), cap) != keep.end(); };
    // The bounding set first (it needs CAP_SETPCAP, which goes with the rest below).
    for (int cap = 0; cap <= last; ++cap)
        if (!kept(cap) && ::prctl(PR_CAPBSET_READ, cap) == 1 && ::prctl(PR_CAPBSET_DROP, cap) != 0 && errno != EPERM)
            return Error::from_errno("dropping capability " + std::to_string(cap) + " from the bounding set");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return Error::from_errno("capget");
    for (int cap = 0; cap <= last; ++cap) {
        uint32_t bit = 1u << (cap % 32);
        auto& d = data[cap / 32];
        d.inheritable &= ~bit;
        if (!kept(cap)) {
            d.effective &= ~bit;
            d.permitted &= ~bit;
        }
    }
    if (::syscall(SYS_capset, &header, data) != 0) return Error::from_errno("capset");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::from_errno("no_new_privs");
    return {};
}

}  // namespace mrd::agent
