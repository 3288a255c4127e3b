// A running session's events for `mirrord ui`: the session listens on a unix socket in the user's
// mirrord runtime directory (0700), and whoever connects (the same user) gets one line describing
// the session, then its events as JSON lines while connected. Nothing is recorded while nobody
// watches.
#pragma once

#include "base/result.hpp"

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace mrd::tracer {

// $MIRRORD_UI_DIR, else $XDG_RUNTIME_DIR/mirrord, else /tmp/mirrord-UID: created 0700, and refused
// unless this user owns it and nobody else may enter it.
Result<std::string> ui_directory();

class SessionFeed {
public:
    // about: {"pid", "command", "target", ...}, the first line every watcher reads.
    static Result<std::unique_ptr<SessionFeed>> start(asio::io_context& io, nlohmann::json about);
    ~SessionFeed();

private:
    struct Watcher;
    SessionFeed(asio::io_context& io, std::string path, std::string about);
    void accept();
    void publish(const std::string& line);

    asio::io_context& io_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::string path_, about_;
    std::vector<std::shared_ptr<Watcher>> watchers_;
    std::shared_ptr<int> alive_ = std::make_shared<int>();  // events posted before the end find it gone
};

}  // namespace mrd::tracer
