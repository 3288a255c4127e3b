#include "tracer/policy/config.hpp"

#include "tracer/policy/config_schema.hpp"
#include "base/document.hpp"
#include "base/text_file.hpp"
#include "wire/address.hpp"

#include <algorithm>
#include <cstdlib>

extern char** environ;

namespace mrd::tracer {

using nlohmann::json;

Result<FilterList> FilterList::parse(Side side, const std::vector<std::string>& texts) {
    FilterList out{side, {}};
    for (auto& text : texts) {
        auto f = AddressFilter::parse(text);
        if (!f) return f.error();
        out.entries.push_back(*f);
    }
    return out;
}

Result<AddressFilter> AddressFilter::parse(const std::string& text) {
    AddressFilter f;
    f.text = text;
    std::string rest = text;
    auto scheme = rest.find("://");
    if (scheme != std::string::npos) {
        std::string proto = to_lower(rest.substr(0, scheme));
        if (proto == "tcp") f.protocol = Protocol::tcp;
        else if (proto == "udp") f.protocol = Protocol::udp;
        else return Error::msg("filter '" + text + "': protocol must be tcp or udp", EINVAL);
        rest = rest.substr(scheme + 3);
    }
    std::string port;
    if (!rest.empty() && rest[0] == '[') {  // [v6]:port
        auto close = rest.find(']');
        if (close == std::string::npos) return Error::msg("filter '" + text + "': unclosed '['", EINVAL);
        f.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') return Error::msg("filter '" + text + "': expected ':' after ']'", EINVAL);
            port = rest.substr(close + 2);
        }
    } else if (std::count(rest.begin(), rest.end(), ':') > 1) {  // bare IPv6, maybe with /mask
        f.host = rest;
    } else {
        auto colon = rest.rfind(':');
        f.host = rest.substr(0, colon);
        if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (!port.empty()) {
        auto n = to_integer(port);
        if (!n || *n < 1 || *n > 65535) return Error::msg("filter '" + text + "': invalid port '" + port + "'", EINVAL);
        f.port = static_cast<uint16_t>(*n);
    }
    auto slash = f.host.find('/');
    if (slash != std::string::npos) {
        auto bits = to_integer(f.host.substr(slash + 1));
        bool v6 = f.host.find(':') != std::string::npos;
        if (!wire::is_ip_literal(f.host.substr(0, slash)) || !bits || *bits < 0 || *bits > (v6 ? 128 : 32))
            return Error::msg("filter '" + text + "': invalid subnet '" + f.host + "'", EINVAL);
    }
    if (f.host.empty() && f.port == 0 && f.protocol == Protocol::any)
        return Error::msg("filter '" + text + "' matches nothing in particular", EINVAL);
    return f;
}

Result<nlohmann::json> read_config_document(const std::string& path) {
    auto text = read_file(path);
    if (!text) return text.error();
    std::string ext = to_lower(path.substr(path.rfind('.') == std::string::npos ? path.size() : path.rfind('.') + 1));
    std::string format = ext == "yml" ? "yaml" : ext;
    auto doc = parse_document(*text, format);
    if (!doc) return doc.error().context(path);
    return doc;
}

namespace {

// mirrord's shorthands in their full form, so that one schema and one reader serve both: null for
// "absent", a target object in place of {"path": ...}, "network"/"incoming"/"http_filter" as
// booleans, a single port for a list of ports.
json normalized(const json& input) {
    json d = without_nulls(input);
    if (!d.is_object()) return d;
    if (d.contains("target") && d["target"].is_object() && !d["target"].empty() && !d["target"].contains("path") &&
        !d["target"].contains("namespace"))
        d["target"] = {{"path", d["target"]}};
    if (!d.contains("feature") || !d["feature"].is_object()) return d;
    json& feature = d["feature"];
    if (feature.contains("network") && feature["network"].is_boolean())
        feature["network"] = feature["network"].get<bool>() ? json::object()
                                                            : json{{"incoming", "off"}, {"outgoing", false}, {"dns", false}};
    if (!feature.contains("network") || !feature["network"].is_object()) return d;
    json& network = feature["network"];
    if (network.contains("incoming") && network["incoming"].is_boolean())
        network["incoming"] = network["incoming"].get<bool>() ? "mirror" : "off";
    if (network.contains("incoming") && network["incoming"].is_object()) {
        json& incoming = network["incoming"];
        if (incoming.contains("http_filter") && incoming["http_filter"].is_boolean()) incoming.erase("http_filter");
        if (incoming.contains("http_filter") && incoming["http_filter"].is_object()) {
            json& ports = incoming["http_filter"]["ports"];
            if (ports.is_number()) ports = json::array({ports});
            if (ports.is_null()) incoming["http_filter"].erase("ports");
        }
    }
    return d;
}

}  // namespace

Result<Config> build_config(const nlohmann::json& input, const std::map<std::string, std::string>& env) {
    Config c;
    SchemaProblems problems = read_schema(normalized(input), c);
    if (!problems.errors.empty()) {
        std::string all;
        for (auto& e : problems.errors) all += (all.empty() ? "" : "; ") + e;
        return Error::msg(all, EINVAL);
    }
    c.warnings = problems.warnings;
    if (auto st = read_environment(env, c); !st) return st.error();
    const AgentConfig& a = c.agent;
    if (a.ttl < 0 || a.startup_timeout <= 0 || a.communication_timeout <= 0)
        return Error::msg("agent.ttl, agent.startup_timeout and agent.communication_timeout must be positive", EINVAL);
    if (a.reconnect_timeout < 0) return Error::msg("agent.reconnect_timeout must be 0 (never) or positive", EINVAL);
    if (!c.env.include.empty() && !c.env.exclude.empty())
        return Error::msg("feature.env: use either include or exclude, not both", EINVAL);
    if (c.incoming.http_filter.ports.empty()) c.incoming.http_filter.ports = {80, 8080};
    return c;
}

Result<Config> load_config(const std::string& path) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq != std::string::npos && entry.rfind("MIRRORD_", 0) == 0) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    json document = json::object();
    // The flag first, then MIRRORD_CONFIG_FILE, as mirrord.
    std::string file = !path.empty() ? path : env.count("MIRRORD_CONFIG_FILE") ? env["MIRRORD_CONFIG_FILE"] : "";
    if (!file.empty()) {
        auto doc = read_config_document(file);
        if (!doc) return doc.error();
        document = *doc;
    }
    auto config = build_config(document, env);
    if (!config) return file.empty() ? config.error() : config.error().context(file);
    return config;
}

}  // namespace mrd::tracer
