// JSON, TOML or YAML text as a JSON value (configuration files, kubeconfig).
#pragma once

#include "base/result.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace mrd {

// format: "json", "toml" or "yaml". YAML scalars become booleans, numbers or null as YAML 1.2
// would read them; quoted scalars stay strings.
Result<nlohmann::json> parse_document(const std::string& text, const std::string& format);

// The document without its null members: kubectl and mirrord read a key set to null (or left
// empty in YAML) as absent.
nlohmann::json without_nulls(const nlohmann::json& document);

}  // namespace mrd
