// The session's scratch directories in $TMPDIR (else /tmp): the shadow tree of pod files, the local
// agent's socket, the lldb-server stand-in. Each is locked (flock) for as long as the process that
// made it lives, so what a killed session left behind can be told from what a live one uses, in any
// PID namespace sharing the directory.
#pragma once

#include "base/result.hpp"

#include <string>
#include <vector>

namespace mrd {

// What a session keeps in scratch directories, each kind named once: make_temp_dir makes them, and
// `mirrord exec` sweeps what killed sessions left of all of them.
namespace scratch {
inline const std::string kAgentSocket = "mirrord-agent";        // a local agent's unix socket
inline const std::string kFileCopies = "mirrord-files";         // the shadow tree of pod files
inline const std::string kFuseView = "mirrord-fuse";            // the FUSE view's mount point
inline const std::string kUnixInterceptors = "mirrord-unix";    // unix sockets standing for the pod's
inline const std::string kLldbServer = "mirrord-lldb-server";   // the lldb-server stand-in
inline const std::vector<std::string> kAll = {kAgentSocket, kFileCopies, kFuseView, kUnixInterceptors, kLldbServer};
}  // namespace scratch

// A new directory of this user's alone, $TMPDIR/NAME-XXXXXX: its path. Locked until this process
// exits, and from the moment it has that name (it is made as .NAME-XXXXXX, locked, then renamed).
Result<std::string> make_temp_dir(const std::string& name);

// Removes the directories make_temp_dir made under one of `names` in $TMPDIR that are this user's
// and unlocked (their maker is gone), and those it left half made (.NAME-XXXXXX, a minute old); how
// many went.
size_t sweep_stale_temp_dirs(const std::vector<std::string>& names);

}  // namespace mrd
