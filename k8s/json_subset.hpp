// Reads only the parts of a JSON document its reader needs. The API's list of 10,000 pods is 20 MB,
// of which `mirrord ls` reads a few names; building all of it as a tree costs more than the transfer.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mrd::k8s {

// `paths` are JSON pointers in which "*" stands for every element of an array
// ("/items/*/metadata/name"); each keeps its whole subtree. The result holds those values at their
// places and the objects and arrays that lead to them, nothing else. Throws as nlohmann::json::parse;
// the parts skipped are checked for their structure only.
nlohmann::json parse_subset(std::string_view text, const std::vector<std::string>& paths);

}  // namespace mrd::k8s
