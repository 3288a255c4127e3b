// The session's scratch directories in $TMPDIR (else /tmp): the shadow tree of pod files, the local
// agent's socket, the lldb-server stand-in. Each is locked (flock) for as long as the process that
// made it lives, so what a killed session left behind can be told from what a live one uses, in any
// PID namespace sharing the directory.
#pragma once

#include "base/result.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace mrd {

// A new directory of this user's alone, $TMPDIR/NAME-XXXXXX: its path. Locked until this process exits.
Result<std::string> make_temp_dir(const std::string& name);

// Removes the directories make_temp_dir made under one of `names` in $TMPDIR that are this user's,
// unlocked (their maker is gone) and older than `min_age` (one just made may not be locked yet);
// how many went.
size_t sweep_stale_temp_dirs(const std::vector<std::string>& names, std::chrono::seconds min_age = std::chrono::seconds(60));

}  // namespace mrd
