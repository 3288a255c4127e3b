// mirrord's target paths ("deploy/api/container/app", "pod/x", "targetless"...) resolved to a running
// pod and container through the API.
#pragma once

#include "k8s/api_client.hpp"

#include <string>
#include <vector>

namespace mrd::k8s {

struct TargetSpec {
    std::string kind;       // pod, deployment, rollout, statefulset, replicaset, job, cronjob, service; targetless
    std::string name;
    std::string container;  // empty: the first that is not a mesh sidecar
};

// Accepts mirrord's spellings and abbreviations (deploy, sts, rs, svc).
Result<TargetSpec> parse_target(const std::string& path);
bool is_kubernetes_target(const std::string& path);

struct ResolvedTarget {
    std::string namespace_;
    std::string pod;
    std::string container;
    std::string container_id;  // "containerd://..." as the pod status says
    std::string node;
    std::string pod_ip;
};

Result<ResolvedTarget> resolve_target(ApiClient& api, const TargetSpec& spec, const std::string& namespace_);
// "pod/x", "deployment/y", ... in the namespace, as `mirrord ls` prints them.
Result<std::vector<std::string>> list_targets(ApiClient& api, const std::string& namespace_);

// matchLabels/matchExpressions as a label selector string ("app=api,tier in (web)").
std::string label_selector(const nlohmann::json& selector);
bool is_mesh_sidecar(const std::string& container);

}  // namespace mrd::k8s
