// The keys of mirrord's configuration schema: which exist, what JSON types they take, and whether
// this implementation acts on them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mrd::tracer {

struct SchemaProblems {
    std::vector<std::string> errors;    // unknown keys, wrong types
    std::vector<std::string> warnings;  // known to mirrord, ignored here
};

// Checks every key of document; paths in messages look like "feature.network.outgoing.tcp".
SchemaProblems check_schema(const nlohmann::json& document);

}  // namespace mrd::tracer
