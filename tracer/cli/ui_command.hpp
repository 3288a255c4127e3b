// `mirrord ui`: a local web page with the live events of the running sessions (what went remote,
// what stayed local and by which rule). Bound to 127.0.0.1, a random token in the URL; it reads
// the sessions' feeds (tracer/session_feed) from the user's mirrord runtime directory.
#pragma once

namespace mrd::tracer {

// port 0: a free one. Runs until SIGINT/SIGTERM; prints the URL on stdout.
int ui_command(int port);

}  // namespace mrd::tracer
