#include "tracer/cli/dump_command.hpp"

#include "tracer/remote/agent_client.hpp"
#include "tracer/cli/session_agent.hpp"
#include "wire/address.hpp"
#include "base/log.hpp"

#include <cstdio>
#include <iostream>

namespace mrd::tracer {

using namespace mrd::wire;

namespace {

bool is_text(const Bytes& bytes) {
    for (unsigned char c : bytes)
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
    return true;
}

void print_bytes(const Bytes& bytes) {
    if (is_text(bytes)) {
        std::cout << "Data:\n" << std::string(bytes.begin(), bytes.end()) << "\n";
        return;
    }
    std::cout << "Data (hex):\n";
    char hex[3];
    for (unsigned char c : bytes) {
        std::snprintf(hex, sizeof hex, "%02x", c);
        std::cout << hex;
    }
    std::cout << "\n";
}

// One mirrored connection: printed as it comes, consumed at once (the agent's window refilled).
class DumpedConnection : public Endpoint {
public:
    DumpedConnection(AgentClient& agent, uint64_t conn) : agent_(agent), conn_(conn) {}
    void on_data(Bytes bytes) override {
        std::cout << "## Connection ID " << conn_ << ": " << bytes.size() << " bytes\n";
        if (!bytes.empty()) print_bytes(bytes);
        std::cout << std::flush;
        agent_.send(WindowUpdate{conn_, static_cast<uint32_t>(bytes.size())});
    }
    void on_window(uint32_t) override {}
    void on_eof() override { done(); }
    void on_close(int) override { done(); }

private:
    void done() {
        if (closed_) return;
        closed_ = true;
        std::cout << "## Connection ID " << conn_ << " closed" << std::endl;
        agent_.send(Close{conn_, 0});
        agent_.connections().remove(conn_);  // last: this object goes with it
    }
    AgentClient& agent_;
    uint64_t conn_;
    bool closed_ = false;
};

void print_request(const HttpRequest& r) {
    std::string text(r.bytes.begin(), r.bytes.end());
    auto end = text.find("\r\n\r\n");
    std::string head = text.substr(0, end), body = end == std::string::npos ? "" : text.substr(end + 4);
    std::cout << "## New HTTP request received: Request ID [" << r.conn << ":" << r.request << "] to port " << r.port
              << " from " << to_string(r.remote) << "\n"
              << head << "\n## Request [" << r.conn << ":" << r.request << "] body: " << body.size() << " bytes\n";
    if (!body.empty()) print_bytes(bytes_of(body));
    std::cout << "## Request ID [" << r.conn << ":" << r.request << "] finished" << std::endl;
}

}  // namespace

int dump_command(const Config& config, const std::string& agent_address, const std::vector<uint16_t>& ports) {
    CommandSession session(config, agent_address);
    AgentClient& agent = session.agent();
    agent.on_unsolicited([&](Message& m) {
        if (auto* c = std::get_if<IncomingConnection>(&m)) {
            std::cout << "## New TCP connection established: Connection ID " << c->conn << " from " << to_string(c->remote) << " to "
                      << to_string(c->local) << std::endl;
            agent.connections().add(c->conn, std::make_shared<DumpedConnection>(agent, c->conn));
        } else if (auto* r = std::get_if<HttpRequest>(&m)) {
            print_request(*r);
        }
    });
    return session.run([&]() -> co::Task<void> {
        const std::string mirror = "mirror";
        const HttpFilter none;  // named: temporaries in a co_await expression are destroyed twice (GCC 12)
        for (uint16_t port : ports) {
            auto subscribed = reply_as<PortSubscribed>(co_await agent.call<PortSubscribe>(port, mirror, none));
            if (!subscribed) {
                log::error("port ", port, ": ", subscribed.error().message);
                co_return session.finish(1);
            }
        }
        std::cerr << "mirrord dump: listening for traffic on port(s)";
        for (uint16_t p : ports) std::cerr << " " << p;
        std::cerr << "; Ctrl-C to stop" << std::endl;
    });
}

}  // namespace mrd::tracer
