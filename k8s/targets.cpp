#include "k8s/targets.hpp"

#include "k8s/json_access.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace mrd::k8s {

using nlohmann::json;

namespace {

const std::map<std::string, std::string>& aliases() {
    static const std::map<std::string, std::string> a = {
        {"pod", "pod"}, {"pods", "pod"}, {"po", "pod"},
        {"deployment", "deployment"}, {"deploy", "deployment"}, {"deployments", "deployment"},
        {"rollout", "rollout"}, {"rollouts", "rollout"},
        {"statefulset", "statefulset"}, {"sts", "statefulset"}, {"statefulsets", "statefulset"},
        {"replicaset", "replicaset"}, {"rs", "replicaset"}, {"replicasets", "replicaset"},
        {"job", "job"}, {"jobs", "job"},
        {"cronjob", "cronjob"}, {"cj", "cronjob"}, {"cronjobs", "cronjob"},
        {"service", "service"}, {"svc", "service"}, {"services", "service"},
    };
    return a;
}

std::string collection(const std::string& kind, const std::string& ns) {
    static const std::map<std::string, std::string> paths = {
        {"pod", "/api/v1/namespaces/{ns}/pods"},
        {"service", "/api/v1/namespaces/{ns}/services"},
        {"deployment", "/apis/apps/v1/namespaces/{ns}/deployments"},
        {"statefulset", "/apis/apps/v1/namespaces/{ns}/statefulsets"},
        {"replicaset", "/apis/apps/v1/namespaces/{ns}/replicasets"},
        {"job", "/apis/batch/v1/namespaces/{ns}/jobs"},
        {"cronjob", "/apis/batch/v1/namespaces/{ns}/cronjobs"},
        {"rollout", "/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts"},
    };
    std::string p = paths.at(kind);
    return p.replace(p.find("{ns}"), 4, ns);
}

// Running and not on its way out (a pod being deleted still runs for its grace period).
bool pod_running(const json& pod) {
    return text(pod, "/status/phase") == "Running" && field(pod, "/metadata/deletionTimestamp").is_null();
}

const json& container_status(const json& pod, const std::string& container) {
    static const json none;
    for (auto& cs : list(pod, "/status/containerStatuses"))
        if (text(cs, "/name") == container) return cs;
    return none;
}

// The container a session targets: the one named, else the pod's default-container annotation (as
// kubectl uses it), else the first that is not a mesh or serving sidecar.
Result<std::string> choose_container(const json& pod, const std::string& wanted) {
    std::vector<std::string> containers;
    for (auto& c : list(pod, "/spec/containers")) containers.push_back(text(c, "/name"));
    auto has = [&](const std::string& c) { return std::find(containers.begin(), containers.end(), c) != containers.end(); };
    std::string name = text(pod, "/metadata/name");
    if (!wanted.empty()) {
        if (!has(wanted)) return Error::msg("pod/" + name + " has no container '" + wanted + "'", ENOENT);
        return wanted;
    }
    std::string annotated = text(pod, "/metadata/annotations/kubectl.kubernetes.io~1default-container");
    if (!annotated.empty() && has(annotated)) return annotated;
    for (auto& c : containers)
        if (!is_mesh_sidecar(c)) return c;
    return Error::msg("pod/" + name + " has only sidecar containers (" + std::to_string(containers.size()) + ")", ENOENT);
}

// Why this pod cannot be the target now, if it cannot.
std::optional<std::string> not_targetable(const json& pod, const std::string& container) {
    std::string name = "pod/" + text(pod, "/metadata/name");
    if (!field(pod, "/metadata/deletionTimestamp").is_null()) return name + " is being deleted";
    if (text(pod, "/status/phase") != "Running") return name + " is not running (" + text(pod, "/status/phase", "no status") + ")";
    const json& cs = container_status(pod, container);
    if (text(cs, "/containerID").empty() || !field(cs, "/state/running").is_object())
        return "container " + container + " of " + name + " is not running";
    if (field(cs, "/ready") != true) return "container " + container + " of " + name + " is not ready";
    return std::nullopt;
}

struct Chosen {
    json pod;
    std::string container;
};

Result<Chosen> first_targetable_pod(ApiClient& api, const std::string& ns, const std::string& selector, const std::string& what,
                                    const std::string& wanted) {
    if (selector.empty()) return Error::msg(what + " has no selector", EINVAL);
    auto pods = api.get(collection("pod", ns) + "?labelSelector=" + url_escape(selector));
    if (!pods) return pods.error().context(what);
    std::string why = "no pod matches";
    for (auto& pod : list(*pods, "/items")) {
        auto container = choose_container(pod, wanted);
        if (!container) {
            why = container.error().message;
            continue;
        }
        auto problem = not_targetable(pod, *container);
        if (!problem) return Chosen{pod, *container};
        why = *problem;
    }
    return Error::msg(what + " has no running pod with a ready target container (selector " + selector + "; " + why + ")", ENOENT);
}

// The selector of a workload, following an Argo Rollout's workloadRef to the Deployment it reuses.
Result<std::string> workload_selector(ApiClient& api, const json& workload, const std::string& ns, const std::string& what) {
    const json& ref = object(workload, "/spec/workloadRef");
    if (object(workload, "/spec/selector").empty() && !ref.empty()) {
        std::string kind = text(ref, "/kind");
        std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
        if (kind != "deployment" && kind != "replicaset")
            return Error::msg(what + ": workloadRef to a " + text(ref, "/kind") + " is not supported", ENOTSUP);
        auto referenced = api.get(collection(kind, ns) + "/" + text(ref, "/name"));
        if (!referenced) return referenced.error().context(what + " (its workloadRef)");
        return label_selector(object(*referenced, "/spec/selector"));
    }
    return label_selector(object(workload, "/spec/selector"));
}

}  // namespace

bool is_mesh_sidecar(const std::string& c) {
    static const char* const sidecars[] = {"istio-proxy", "istio-init", "linkerd-proxy", "linkerd-init", "vault-agent",
                                           "vault-agent-init", "kuma-sidecar", "kuma-init", "consul-connect-envoy-sidecar",
                                           "envoy-sidecar", "aws-appmesh-envoy", "dapr", "daprd", "queue-proxy",
                                           "istio-validation", "cloudsql-proxy", "datadog-agent"};
    return std::any_of(std::begin(sidecars), std::end(sidecars), [&](const char* s) { return c == s; });
}

bool is_kubernetes_target(const std::string& path) {
    auto slash = path.find('/');
    return slash != std::string::npos && aliases().count(path.substr(0, slash));
}

Result<TargetSpec> parse_target(const std::string& path) {
    if (path.empty() || path == "targetless") return TargetSpec{"targetless", "", ""};
    std::vector<std::string> parts;
    std::istringstream in(path);
    for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
    auto kind = aliases().find(parts[0]);
    if (kind == aliases().end() || parts.size() < 2 || parts[1].empty())
        return Error::msg("target '" + path + "' is not <kind>/<name>[/container/<name>] (kinds: pod, deployment, rollout, "
                          "statefulset, replicaset, job, cronjob, service) or targetless", EINVAL);
    TargetSpec spec{kind->second, parts[1], ""};
    if (parts.size() == 4 && parts[2] == "container") spec.container = parts[3];
    else if (parts.size() != 2) return Error::msg("target '" + path + "': expected .../container/<name> after the name", EINVAL);
    return spec;
}

std::string label_selector(const json& selector) {
    std::vector<std::string> terms;
    if (selector.contains("matchLabels") || selector.contains("matchExpressions")) {
        for (auto& [k, v] : object(selector, "/matchLabels").items()) terms.push_back(k + "=" + v.get<std::string>());
        for (auto& e : list(selector, "/matchExpressions")) {
            std::string key = text(e, "/key"), op = text(e, "/operator");
            std::string values;
            for (auto& v : list(e, "/values")) values += (values.empty() ? "" : ",") + v.get<std::string>();
            if (op == "In") terms.push_back(key + " in (" + values + ")");
            else if (op == "NotIn") terms.push_back(key + " notin (" + values + ")");
            else if (op == "Exists") terms.push_back(key);
            else if (op == "DoesNotExist") terms.push_back("!" + key);
        }
    } else {
        for (auto& [k, v] : selector.items())  // a service's selector is a plain map
            if (v.is_string()) terms.push_back(k + "=" + v.get<std::string>());
    }
    std::string out;
    for (auto& t : terms) out += (out.empty() ? "" : ",") + t;
    return out;
}

Result<ResolvedTarget> resolve_target(ApiClient& api, const TargetSpec& spec, const std::string& ns) {
    std::string what = spec.kind + "/" + spec.name;
    Result<Chosen> chosen = Error::msg("", 0);
    if (spec.kind == "pod") {
        auto pod = api.get(collection("pod", ns) + "/" + spec.name);
        if (!pod) return pod.error();
        auto container = choose_container(*pod, spec.container);
        if (!container) return container.error();
        if (auto problem = not_targetable(*pod, *container)) return Error::msg(*problem, EAGAIN);
        chosen = Chosen{*pod, *container};
    } else if (spec.kind == "cronjob") {
        auto jobs = api.get(collection("job", ns));
        if (!jobs) return jobs.error().context(what);
        json newest;
        for (auto& job : list(*jobs, "/items"))
            for (auto& owner : list(job, "/metadata/ownerReferences"))
                if (text(owner, "/kind") == "CronJob" && text(owner, "/name") == spec.name &&
                    text(job, "/metadata/creationTimestamp") >= text(newest, "/metadata/creationTimestamp"))
                    newest = job;
        if (newest.is_null()) return Error::msg(what + " has no job running", ENOENT);
        chosen = first_targetable_pod(api, ns, label_selector(object(newest, "/spec/selector")), what, spec.container);
    } else {
        auto owner = api.get(collection(spec.kind, ns) + "/" + spec.name);
        if (!owner) return owner.error().context(what);
        auto selector = workload_selector(api, *owner, ns, what);
        if (!selector) return selector.error();
        chosen = first_targetable_pod(api, ns, *selector, what, spec.container);
    }
    if (!chosen) return chosen.error();

    const json& pod = chosen->pod;
    ResolvedTarget t;
    t.namespace_ = ns;
    t.pod = text(pod, "/metadata/name");
    t.node = text(pod, "/spec/nodeName");
    t.pod_ip = text(pod, "/status/podIP");
    t.container = chosen->container;
    t.container_id = text(container_status(pod, t.container), "/containerID");
    return t;
}

Result<std::vector<std::string>> list_targets(ApiClient& api, const std::string& ns) {
    std::vector<std::string> out;
    // A cluster's pod list can be tens of megabytes: only what is read here is built.
    auto pods = api.get(collection("pod", ns), {"/items/*/metadata/name", "/items/*/metadata/deletionTimestamp",
                                                "/items/*/spec/containers/*/name", "/items/*/status/phase"});
    if (!pods) return pods.error();
    for (auto& pod : list(*pods, "/items")) {
        if (!pod_running(pod)) continue;
        std::string name = text(pod, "/metadata/name");
        out.push_back("pod/" + name);
        auto containers = list(pod, "/spec/containers");
        if (containers.size() > 1)
            for (auto& c : containers) out.push_back("pod/" + name + "/container/" + text(c, "/name"));
    }
    for (const char* kind : {"deployment", "rollout", "statefulset", "cronjob", "job", "service"}) {
        auto items = api.get(collection(kind, ns), {"/items/*/metadata/name"});
        if (!items) {
            if (std::string(kind) == "rollout") continue;  // Argo Rollouts not installed
            return items.error();
        }
        for (auto& item : list(*items, "/items")) out.push_back(std::string(kind) + "/" + text(item, "/metadata/name"));
    }
    return out;
}

}  // namespace mrd::k8s
