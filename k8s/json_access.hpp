// Reading API objects without trusting their shape: a missing or mistyped field reads as empty,
// never as an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace mrd::k8s {

inline const nlohmann::json& field(const nlohmann::json& j, const std::string& pointer) {
    static const nlohmann::json null;
    try {
        nlohmann::json::json_pointer p(pointer);
        return j.contains(p) ? j.at(p) : null;
    } catch (const nlohmann::json::exception&) {
        return null;
    }
}
inline std::string text(const nlohmann::json& j, const std::string& pointer, const std::string& fallback = "") {
    const auto& v = field(j, pointer);
    return v.is_string() ? v.get<std::string>() : fallback;
}
inline const nlohmann::json& list(const nlohmann::json& j, const std::string& pointer) {
    static const nlohmann::json empty = nlohmann::json::array();
    const auto& v = field(j, pointer);
    return v.is_array() ? v : empty;
}
inline const nlohmann::json& object(const nlohmann::json& j, const std::string& pointer) {
    static const nlohmann::json empty = nlohmann::json::object();
    const auto& v = field(j, pointer);
    return v.is_object() ? v : empty;
}
inline long long number(const nlohmann::json& j, const std::string& pointer) {
    const auto& v = field(j, pointer);
    return v.is_number() ? v.get<long long>() : 0;
}

}  // namespace mrd::k8s
