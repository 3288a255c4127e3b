#include "tracer/cli/session_feed.hpp"

#include "tracer/remote/session_report.hpp"
#include "base/async.hpp"
#include "base/log.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace mrd::tracer {

using stream = asio::local::stream_protocol;

Result<std::string> ui_directory() {
    std::string dir;
    if (const char* d = std::getenv("MIRRORD_UI_DIR"); d && *d) dir = d;
    else if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r && *r) dir = std::string(r) + "/mirrord";
    else dir = "/tmp/mirrord-" + std::to_string(::getuid());
    ::mkdir(dir.c_str(), 0700);
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0) return Error::from_errno(dir);
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077))
        return Error::msg(dir + " is not a private directory of this user (mode 0700): not used for mirrord ui", EPERM);
    return dir;
}

struct SessionFeed::Watcher {
    explicit Watcher(stream::socket s) : socket(std::make_shared<stream::socket>(std::move(s))), out(std::make_shared<co::WriteQueue<stream::socket>>(socket)) {}
    std::shared_ptr<stream::socket> socket;
    std::shared_ptr<co::WriteQueue<stream::socket>> out;
};

Result<std::unique_ptr<SessionFeed>> SessionFeed::start(asio::io_context& io, nlohmann::json about) {
    auto dir = ui_directory();
    if (!dir) return dir.error();
    std::string path = *dir + "/session-" + std::to_string(::getpid()) + ".sock";
    std::unique_ptr<SessionFeed> feed(new SessionFeed(io, path, about.dump() + "\n"));
    ::unlink(path.c_str());
    std::error_code ec;
    stream::endpoint endpoint(path);
    feed->acceptor_.open(endpoint.protocol(), ec);
    if (!ec) feed->acceptor_.bind(endpoint, ec);
    if (!ec) feed->acceptor_.listen(8, ec);
    if (ec) return Error{ec.value(), "session feed at " + path + ": " + ec.message()};
    feed->accept();
    // Events come from the listener's thread too: they are written from the event loop.
    session_report().publish_to([io = &io, self = feed.get(), alive = std::weak_ptr<int>(feed->alive_)](std::string line) {
        asio::post(*io, [self, alive, line = std::move(line)] {
            if (alive.lock()) self->publish(line);
        });
    });
    return feed;
}

SessionFeed::SessionFeed(asio::io_context& io, std::string path, std::string about)
    : io_(io), acceptor_(io), path_(std::move(path)), about_(std::move(about)) {}

SessionFeed::~SessionFeed() {
    session_report().publish_to(nullptr);
    session_report().set_watched(false);
    std::error_code ignored;
    acceptor_.close(ignored);
    ::unlink(path_.c_str());
}

void SessionFeed::accept() {
    acceptor_.async_accept([this](std::error_code ec, stream::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            ucred cred{};
            socklen_t len = sizeof cred;
            if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == ::getuid()) {
                auto w = std::make_shared<Watcher>(std::move(socket));
                w->out->send(about_);
                watchers_.push_back(w);
                session_report().set_watched(true);
            }
        }
        accept();
    });
}

void SessionFeed::publish(const std::string& line) {
    std::erase_if(watchers_, [](auto& w) { return w->out->failed(); });
    if (watchers_.empty()) return session_report().set_watched(false);
    for (auto& w : watchers_) w->out->send(line + "\n");
}

}  // namespace mrd::tracer
