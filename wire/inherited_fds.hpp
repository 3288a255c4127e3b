// The descriptors a program started by the CLI may inherit: those the CLI itself inherited (a shell's
// `3<file` meant for the program), never the CLI's own (its agent link, port-forward and API
// sockets, which Asio opens without close-on-exec): a program holding a copy of the agent link
// would keep it open after the CLI closed it, and could talk to the agent itself.
#pragma once

namespace mrd::wire {

// At start-up, before the CLI opens anything.
void remember_inherited_fds();
// In a child between fork and exec (async-signal-safe): every other descriptor above stderr is
// made close-on-exec.
void close_uninherited_on_exec();

}  // namespace mrd::wire
