#include "wire/fault_injection.hpp"

#include "base/log.hpp"

#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace mrd::wire::fault {
namespace {

enum class Action { kill_on_receive, corrupt_send, truncate_send };

struct Fault {
    Action action;
    Kind kind;
};

std::optional<Kind> kind_named(const std::string& name) {
    for (uint16_t k = 0; k < 256; ++k)
        if (name == kind_name(static_cast<Kind>(k))) return static_cast<Kind>(k);
    return std::nullopt;
}

std::optional<Fault> parse(const char* text) {
    if (!text || !*text) return std::nullopt;
    std::string spec = text;
    auto colon = spec.find(':');
    std::string action = spec.substr(0, colon), kind = colon == std::string::npos ? "" : spec.substr(colon + 1);
    auto k = kind_named(kind);
    std::optional<Action> a;
    if (action == "kill-on-receive") a = Action::kill_on_receive;
    else if (action == "corrupt-send") a = Action::corrupt_send;
    else if (action == "truncate-send") a = Action::truncate_send;
    if (!a || !k) {
        log::error("MIRRORD_FAULT='", spec, "' is not ACTION:KIND (kill-on-receive, corrupt-send, truncate-send); ignored");
        return std::nullopt;
    }
    log::warn("fault injection armed: ", spec);
    return Fault{*a, *k};
}

std::optional<Fault>& armed() {
    static std::optional<Fault> fault = parse(std::getenv("MIRRORD_FAULT"));
    return fault;
}

}  // namespace

void on_receive(Kind kind) {
    auto& fault = armed();
    if (!fault || fault->action != Action::kill_on_receive || fault->kind != kind) return;
    log::warn("fault injection: killed on receiving ", kind_name(kind));
    ::raise(SIGKILL);
}

Send on_send(Kind kind) {
    auto& fault = armed();
    if (!fault || fault->kind != kind || fault->action == Action::kill_on_receive) return Send::as_is;
    Send send = fault->action == Action::corrupt_send ? Send::corrupt : Send::truncate;
    log::warn("fault injection: ", send == Send::corrupt ? "garbling" : "cutting short", " a ", kind_name(kind), " frame");
    fault.reset();
    return send;
}

}  // namespace mrd::wire::fault
