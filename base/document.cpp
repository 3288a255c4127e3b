#include "base/document.hpp"

#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <sstream>

namespace mrd {
namespace {

using nlohmann::json;

json toml_to_json(const toml::node& node) {
    if (auto* t = node.as_table()) {
        json out = json::object();
        for (auto& [k, v] : *t) out[std::string(k.str())] = toml_to_json(v);
        return out;
    }
    if (auto* a = node.as_array()) {
        json out = json::array();
        for (auto& v : *a) out.push_back(toml_to_json(v));
        return out;
    }
    if (auto* v = node.as_string()) return v->get();
    if (auto* v = node.as_integer()) return v->get();
    if (auto* v = node.as_floating_point()) return v->get();
    if (auto* v = node.as_boolean()) return v->get();
    std::ostringstream text;  // dates and times: keep their text
    if (auto* v = node.as_date()) text << *v;
    else if (auto* v = node.as_time()) text << *v;
    else if (auto* v = node.as_date_time()) text << *v;
    return text.str();
}

json yaml_to_json(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map: {
            json out = json::object();
            for (auto it = node.begin(); it != node.end(); ++it) out[it->first.as<std::string>()] = yaml_to_json(it->second);
            return out;
        }
        case YAML::NodeType::Sequence: {
            json out = json::array();
            for (auto it = node.begin(); it != node.end(); ++it) out.push_back(yaml_to_json(*it));
            return out;
        }
        case YAML::NodeType::Scalar: {
            const std::string& text = node.Scalar();
            if (node.Tag() == "!") return text;  // quoted: always a string
            if (text == "true" || text == "True" || text == "TRUE") return true;
            if (text == "false" || text == "False" || text == "FALSE") return false;
            if (text == "null" || text == "~" || text.empty()) return nullptr;
            char* end = nullptr;
            long long integer = std::strtoll(text.c_str(), &end, 10);
            if (*end == '\0') return integer;
            double real = std::strtod(text.c_str(), &end);
            if (*end == '\0' && text.find_first_of("0123456789") != std::string::npos) return real;
            return text;
        }
        default:
            return nullptr;
    }
}

}  // namespace

Result<nlohmann::json> parse_document(const std::string& text, const std::string& format) {
    try {
        if (format == "json") return json::parse(text, nullptr, true, /*ignore_comments=*/true);
        if (format == "toml") return toml_to_json(toml::parse(text));
        if (format == "yaml") {
            YAML::Node root = YAML::Load(text);
            return root.IsNull() ? json::object() : yaml_to_json(root);
        }
    } catch (const json::exception& e) {
        return Error::msg(std::string("invalid JSON: ") + e.what(), EINVAL);
    } catch (const toml::parse_error& e) {
        std::ostringstream msg;
        msg << "invalid TOML at line " << e.source().begin.line << ": " << e.description();
        return Error::msg(msg.str(), EINVAL);
    } catch (const YAML::Exception& e) {
        return Error::msg(std::string("invalid YAML: ") + e.what(), EINVAL);
    }
    return Error::msg("unknown configuration format '" + format + "' (use .json, .toml, .yaml or .yml)", EINVAL);
}

nlohmann::json without_nulls(const nlohmann::json& j) {
    if (j.is_object()) {
        nlohmann::json out = nlohmann::json::object();
        for (auto& [k, v] : j.items())
            if (!v.is_null()) out[k] = without_nulls(v);
        return out;
    }
    if (j.is_array()) {
        nlohmann::json out = nlohmann::json::array();
        for (auto& v : j) out.push_back(without_nulls(v));
        return out;
    }
    return j;
}

}  // namespace mrd
