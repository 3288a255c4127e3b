#include "tracer/cli/ui_command.hpp"

#include "tracer/cli/session_feed.hpp"
#include "base/log.hpp"
#include "wire/tls_identity.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <deque>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace mrd::tracer {

namespace {

using nlohmann::json;

constexpr size_t kKeptEvents = 20000;  // the oldest go first

const char* const kPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>mirrord sessions</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f4f4f4; }
.remote { color: #0b5394; } .local { color: #555; } .ended { color: #999; }
code { font-size: 13px; }
#events.quiet tr.routine { display: none; }
</style></head>
<body>
<h1>mirrord: what the running sessions do</h1>
<h2>Sessions</h2>
<table id="sessions"><tr><th>pid</th><th>command</th><th>target</th><th>state</th></tr></table>
<h2>Events <span id="count"></span></h2>
<label><input type="checkbox" id="routine"> also files kept local by mirrord's defaults (libraries, /usr, /proc...)</label>
<table id="events" class="quiet"><tr><th>time</th><th>session</th><th>kind</th><th>route</th><th>what</th><th>rule</th></tr></table>
<script>
const token = new URLSearchParams(location.search).get("token");
let next = 0;
function cell(row, text, cls) { const c = row.insertCell(); c.textContent = text; if (cls) c.className = cls; return c; }
async function poll() {
  try {
    const r = await fetch(`events?token=${encodeURIComponent(token)}&since=${next}`);
    const d = await r.json();
    const sessions = document.getElementById("sessions");
    while (sessions.rows.length > 1) sessions.deleteRow(1);
    for (const s of d.sessions) {
      const row = sessions.insertRow();
      cell(row, s.pid); cell(row, s.command); cell(row, s.target || "");
      cell(row, s.live ? "running" : "ended", s.live ? "" : "ended");
    }
    const events = document.getElementById("events");
    for (const e of d.events) {
      const row = events.insertRow(1);
      const routine = e.kind === "file" && e.route === "local" && /^mirrord(\x27s default local paths| \(a file of its own\))/.test(e.rule || "");
      row.className = routine ? "event routine" : "event";
      cell(row, new Date(e.time * 1000).toLocaleTimeString());
      cell(row, e.session); cell(row, e.kind);
      cell(row, e.route, e.route.includes("remote") ? "remote" : "local");
      cell(row, e.subject + (e.bytes ? ` (${e.bytes} bytes)` : "")).className = "subject";
      cell(row, e.rule || "");
    }
    next = d.next;
    document.getElementById("count").textContent = `(${next})`;
  } catch (err) {}
  setTimeout(poll, 500);
}
document.getElementById("routine").onchange = (ev) =>
  document.getElementById("events").classList.toggle("quiet", !ev.target.checked);
poll();
</script></body></html>
)HTML";

// What the sessions said, for the page.
class Collected {
public:
    void session(int id, json about) {
        std::lock_guard lock(mutex_);
        about["live"] = true;
        sessions_[id] = std::move(about);
    }
    void ended(int id) {
        std::lock_guard lock(mutex_);
        sessions_[id]["live"] = false;
    }
    void event(int id, json e) {
        std::lock_guard lock(mutex_);
        e["session"] = id;
        events_.push_back(std::move(e));
        if (events_.size() > kKeptEvents) {
            events_.pop_front();
            ++first_;
        }
    }
    json since(uint64_t n) const {
        std::lock_guard lock(mutex_);
        json out = {{"sessions", json::array()}, {"events", json::array()}, {"next", first_ + events_.size()}};
        for (auto& [id, about] : sessions_) out["sessions"].push_back(about);
        for (uint64_t i = std::max(n, first_); i < first_ + events_.size(); ++i) out["events"].push_back(events_[i - first_]);
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::map<int, json> sessions_;
    std::deque<json> events_;
    uint64_t first_ = 0;
};

// One session's feed, read on a thread of its own until the session ends.
void follow(const std::string& path, int id, Collected& collected) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (fd >= 0) ::close(fd);
        ::unlink(path.c_str());  // a session that died without removing it
        return;
    }
    std::string buffer;
    char chunk[16384];
    bool first = true;
    for (;;) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n <= 0) break;
        buffer.append(chunk, static_cast<size_t>(n));
        for (size_t end; (end = buffer.find('\n')) != std::string::npos; buffer.erase(0, end + 1)) {
            json line = json::parse(buffer.substr(0, end), nullptr, false);
            if (line.is_discarded()) continue;
            if (first) collected.session(id, std::move(line));
            else collected.event(id, std::move(line));
            first = false;
        }
    }
    ::close(fd);
    if (!first) collected.ended(id);
}

}  // namespace

int ui_command(int port) {
    auto dir = ui_directory();
    if (!dir) {
        log::error(dir.error().message);
        return 1;
    }
    // Reader threads run until their session ends, maybe past this function: never destroyed.
    static Collected* const kept = new Collected;
    Collected& collected = *kept;
    std::string token = wire::random_token();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread: sigwait below takes them
    httplib::Server server;
    auto allowed = [&](const httplib::Request& req, httplib::Response& res) {
        // The token, and this machine's name for us (a page elsewhere cannot rebind a name to 127.0.0.1).
        std::string host = req.get_header_value("Host");
        bool local_host = host.rfind("127.0.0.1:", 0) == 0 || host.rfind("localhost:", 0) == 0;
        if (req.get_param_value("token") == token && local_host) return true;
        res.status = 403;
        res.set_content("mirrord ui: this page needs the URL that `mirrord ui` printed\n", "text/plain");
        return false;
    };
    server.Get("/", [&](const httplib::Request& req, httplib::Response& res) {
        if (allowed(req, res)) res.set_content(kPage, "text/html; charset=utf-8");
    });
    server.Get("/events", [&](const httplib::Request& req, httplib::Response& res) {
        if (!allowed(req, res)) return;
        uint64_t since = req.has_param("since") ? std::strtoull(req.get_param_value("since").c_str(), nullptr, 10) : 0;
        res.set_header("Cache-Control", "no-store");
        res.set_content(collected.since(since).dump(), "application/json");
    });
    int bound = port ? (server.bind_to_port("127.0.0.1", port) ? port : -1) : server.bind_to_any_port("127.0.0.1");
    if (bound <= 0) {
        log::error("mirrord ui: cannot listen on 127.0.0.1", port ? ":" + std::to_string(port) : std::string());
        return 1;
    }

    // Sessions come and go: their feeds are looked for twice a second.
    std::set<std::string> followed;
    std::atomic<bool> stopping{false};
    std::thread scanner([&] {
        int next_id = 1;
        while (!stopping) {
            std::error_code ec;
            for (auto& entry : std::filesystem::directory_iterator(*dir, ec)) {
                std::string path = entry.path().string();
                if (entry.path().extension() != ".sock" || followed.count(path)) continue;
                followed.insert(path);
                std::thread(follow, path, next_id++, std::ref(collected)).detach();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    });
    std::thread listener([&] { server.listen_after_bind(); });
    std::cout << "mirrord ui: http://127.0.0.1:" << bound << "/?token=" << token << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    stopping = true;
    server.stop();
    listener.join();
    scanner.join();
    return 0;
}

}  // namespace mrd::tracer
