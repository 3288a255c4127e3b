// mirrord's configuration schema as one table: every key mirrord knows, the JSON types it takes, and
// how this implementation reads it into a Config (or that it ignores it, with a warning). Parsing,
// `verify-config` and mirrord's MIRRORD_* environment variables all go through this table.
#pragma once

#include "base/result.hpp"
#include "tracer/policy/config.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace mrd::tracer {

struct SchemaProblems {
    std::vector<std::string> errors;    // unknown keys, wrong types, values that do not parse
    std::vector<std::string> warnings;  // known to mirrord, ignored here
};

// Checks every key of document (in its full form, see config.cpp's normalized) and reads each into
// config. Paths in messages look like "feature.network.outgoing.tcp".
SchemaProblems read_schema(const nlohmann::json& document, Config& config);

// mirrord's environment variables, each read as its key of the schema would be (they win over the
// file); variables of settings this implementation lacks add warnings.
Status read_environment(const std::map<std::string, std::string>& env, Config& config);

// Keys marked as used that nothing reads (neither they, nor a key that holds them): none, or the
// table has drifted. For the unit test.
std::vector<std::string> unread_schema_keys();
// Whether path is a key this implementation acts on. For the unit test.
bool is_supported_key(const std::string& path);

}  // namespace mrd::tracer
