// Faults on purpose, for the tests: the process at one end of a link dies, or a frame it sends
// arrives garbled or cut short, at a chosen kind of message. Set by MIRRORD_FAULT in the
// environment, one ACTION:KIND (KIND as in messages.hpp), each firing once:
//   kill-on-receive:FileRead   SIGKILL itself when the first FileRead arrives (a request in flight)
//   corrupt-send:FileOpened    the first FileOpened frame it sends has its body overwritten
//   truncate-send:FileData     the first FileData frame it sends stops halfway, then the link closes
// Without the variable, each check is one load and one branch.
#pragma once

#include "wire/messages.hpp"

namespace mrd::wire::fault {

enum class Send { as_is, corrupt, truncate };

// Called for each message received; does not return when a kill-on-receive fault matches.
void on_receive(Kind kind);
// What to do with a frame of kind about to be sent.
Send on_send(Kind kind);

}  // namespace mrd::wire::fault
