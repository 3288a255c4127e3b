#!/usr/bin/python3
"""A stand-in Kubernetes API server for the end-to-end tests, strict enough that the real kubectl and
the python3-kubernetes client use it unmodified: HTTPS with bearer-token or client-certificate
authentication, discovery (/version, /api, /apis, group versions), objects and lists with kind and
apiVersion, Status errors (401, 403, 404, 409, 422), watch streams, Table output, pods/log with
follow, DELETE with propagationPolicy, and port-forward (WebSocket v4.channel.k8s.io, SPDY/3.1 over
an Upgrade or tunnelled in WebSocket) with subprotocol negotiation that refuses what it does not speak.

Agent Jobs and ephemeral containers really run: a local mirrord-agent entering the sandbox pod,
whose stdout is the container's log. A finished Job is removed after its ttlSecondsAfterFinished.

  fake_apiserver.py --port N --cert C --key K --ca CA --pod-pid PID --agent BIN --record DIR [--rbac YAML] [--prefix PATH]

Scenarios: agent image "bad-image" never pulls (ImagePullBackOff); namespace "locked" refuses pods
(a FailedCreate event, as PodSecurity admission does); namespace "slow" never schedules them; the
token "readonly-token" may read but not create (403); "rbac-token" may do what the ClusterRole
in --rbac grants; "exp-<unix time>" is valid until then, as an exec plugin's short-lived tokens."""
import argparse
import base64
import copy
import faulthandler
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streams  # noqa: E402

args = None
LOCK = threading.RLock()
STORE = {}     # (group/version, resource, namespace, name) -> object
AGENTS = {}    # (namespace, pod, container) -> {"port", "process", "log": [lines], "ready"}
RBAC_RULES = []
REVISION = [1000]
CONTAINER_ID = "containerd://" + "4f1e0c3a9b7d2e6f8a1b3c5d7e9f0a2b" * 2


def container_id(seed):
    return "containerd://" + (seed.encode().hex() * 64)[:64]


# Discovery: group/version -> [(resource, kind, namespaced, verbs, short names)].
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
# Resources in the "all" category (kubectl get all).
ALL = {"pods", "services", "deployments", "statefulsets", "replicasets", "jobs", "cronjobs"}
RESOURCES = {
    "v1": [("pods", "Pod", True, VERBS, ["po"]), ("pods/log", "Pod", True, ["get"], []),
           ("pods/portforward", "PodPortForwardOptions", True, ["create", "get"], []),
           ("pods/ephemeralcontainers", "Pod", True, ["get", "patch", "update"], []),
           ("services", "Service", True, VERBS, ["svc"]), ("events", "Event", True, VERBS, ["ev"]),
           ("namespaces", "Namespace", False, VERBS, ["ns"])],
    "apps/v1": [("deployments", "Deployment", True, VERBS, ["deploy"]), ("statefulsets", "StatefulSet", True, VERBS, ["sts"]),
                ("replicasets", "ReplicaSet", True, VERBS, ["rs"])],
    "batch/v1": [("jobs", "Job", True, VERBS, []), ("cronjobs", "CronJob", True, VERBS, ["cj"])],
    "argoproj.io/v1alpha1": [("rollouts", "Rollout", True, VERBS, ["ro"])],
}


def kind_of(gv, resource):
    return next(k for r, k, *_ in RESOURCES[gv] if r == resource)


def now(offset=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def next_revision():
    REVISION[0] += 1
    return str(REVISION[0])


def put(gv, resource, obj):
    """Stores obj with the metadata the API server fills in."""
    meta = obj.setdefault("metadata", {})
    if resource != "namespaces":
        meta.setdefault("namespace", "shop")
    meta.setdefault("uid", str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", now(-3600))
    meta["resourceVersion"] = next_revision()
    obj["apiVersion"], obj["kind"] = gv, kind_of(gv, resource)
    STORE[(gv, resource, meta.get("namespace", ""), meta["name"])] = obj
    return obj


def status(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return code, body


def not_found(gv, resource, name):
    group = gv.split("/")[0] if "/" in gv else ""
    qualified = resource + ("." + group if group else "")
    return status(404, "NotFound", f'{qualified} "{name}" not found', {"name": name, "group": group, "kind": resource})


# The cluster: pods of a deployment behind a mesh sidecar, and pods that exercise target resolution.
def app_pod(name, labels, containers=("istio-proxy", "app"), ready=None, annotations=None, phase="Running", deleting=False,
            namespace="shop"):
    ready = ready or {}
    pod = {"metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations or {}},
           "spec": {"nodeName": "node-1", "restartPolicy": "Always",
                    "containers": [{"name": c, "image": f"shop/{c}:1.0", "ports": [{"containerPort": 80, "protocol": "TCP"}]}
                                   for c in containers]},
           "status": {"phase": phase, "podIP": "10.77.0.2", "hostIP": "192.168.0.11", "startTime": now(-3600)}}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = now(30)
        pod["metadata"]["deletionGracePeriodSeconds"] = 30
    if phase == "Running":
        statuses = [{"name": c, "image": f"shop/{c}:1.0", "imageID": f"docker.io/shop/{c}@sha256:" + "ab" * 32,
                     "containerID": CONTAINER_ID if c == "app" and name.startswith("api-") else container_id(name + c),
                     "ready": ready.get(c, True), "started": True, "restartCount": 0,
                     "state": {"running": {"startedAt": now(-3500)}}} for c in containers]
        all_ready = all(s["ready"] for s in statuses)
        pod["status"]["containerStatuses"] = statuses
        pod["status"]["conditions"] = [
            {"type": t, "status": "True" if t != "Ready" and t != "ContainersReady" or all_ready else "False",
             "lastProbeTime": None, "lastTransitionTime": now(-3500)}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return put("v1", "pods", pod)


def workload(gv, resource, name, selector, extra_spec=None, namespace="shop"):
    spec = {"replicas": 1, "selector": selector,
            "template": {"metadata": {"labels": selector.get("matchLabels", {})},
                         "spec": {"containers": [{"name": "app", "image": "shop/app:1.0"}]}}}
    spec.update(extra_spec or {})
    return put(gv, resource, {"metadata": {"name": name, "namespace": namespace, "generation": 1}, "spec": spec,
                              "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}})


def seed():
    put("v1", "namespaces", {"metadata": {"name": "shop"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    app_pod("api-7d9f8c-x2v4q", {"app": "api", "pod-template-hash": "7d9f8c"})
    app_pod("db-0", {"app": "db"})
    app_pod("report-28001-abcde", {"job-name": "report-28001"})
    app_pod("old-pending", {"app": "old"}, phase="Pending")
    app_pod("annotated", {"app": "annotated"}, containers=("app", "worker"),
            annotations={"kubectl.kubernetes.io/default-container": "worker"})
    app_pod("knative-00001", {"app": "knative"}, containers=("queue-proxy", "user-container"))
    # "half": one pod on its way out, one whose app container is not ready, one ready.
    app_pod("half-a-deleting", {"app": "half"}, deleting=True)
    app_pod("half-b-unready", {"app": "half"}, ready={"app": False})
    app_pod("half-c-ready", {"app": "half"})
    app_pod("sick-0", {"app": "sick"}, ready={"app": False})
    workload("apps/v1", "deployments", "api", {"matchLabels": {"app": "api"}})
    workload("apps/v1", "deployments", "half", {"matchLabels": {"app": "half"}})
    workload("apps/v1", "deployments", "sick", {"matchLabels": {"app": "sick"}})
    workload("apps/v1", "statefulsets", "db", {"matchLabels": {"app": "db"}}, {"serviceName": "db"})
    workload("apps/v1", "replicasets", "api-7d9f8c", {"matchLabels": {"app": "api", "pod-template-hash": "7d9f8c"}})
    workload("argoproj.io/v1alpha1", "rollouts", "web",
             {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]})
    # An Argo Rollout that reuses a Deployment's pod template: no selector of its own.
    put("argoproj.io/v1alpha1", "rollouts", {"metadata": {"name": "web-ref"},
                                             "spec": {"replicas": 1, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}}})
    put("batch/v1", "cronjobs", {"metadata": {"name": "report"},
                                 "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                                     "containers": [{"name": "report", "image": "shop/report"}], "restartPolicy": "Never"}}}}}})
    put("batch/v1", "jobs", {"metadata": {"name": "report-28001", "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "report", "uid": "uid-report", "controller": True}]},
        "spec": {"selector": {"matchLabels": {"job-name": "report-28001"}}, "template": {"spec": {
            "containers": [{"name": "report", "image": "shop/report"}], "restartPolicy": "Never"}}},
        "status": {"active": 1}})
    put("v1", "services", {"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "type": "ClusterIP",
                                                                  "clusterIP": "10.96.0.10",
                                                                  "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}})


def label_matches(labels, selector):
    for term in filter(None, selector.split(",")):
        if " in (" in term:
            key, values = term.split(" in (")
            if labels.get(key.strip()) not in values.rstrip(")").split(","):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_matches(obj, selector):
    for term in filter(None, selector.split(",")):
        path, value = term.split("=", 1)
        node = obj
        for part in path.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if node != value:
            return False
    return True


def select(gv, resource, ns, query):
    labels, fields = query.get("labelSelector", [""])[0], query.get("fieldSelector", [""])[0]
    found = [(key, o) for key, o in STORE.items() if key[0] == gv and key[1] == resource and (ns is None or key[2] == ns)]
    return [o for _, o in sorted(found, key=lambda item: item[0])
            if label_matches(o["metadata"].get("labels", {}), labels) and field_matches(o, fields)]


# Agents: the real mirrord-agent per agent container, its stdout the container's log.
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def record(name, line):
    with open(os.path.join(args.record, name), "a") as f:
        f.write(line + "\n")


def run_agent(ns, pod, container, command):
    port = free_port()
    argv, rest = [args.agent], iter(command[1:])
    for a in rest:
        if a in ("--container-id", "--target-pid"):
            record("targets.log", f"{a} {next(rest)}")
            argv += ["--target-pid", str(args.pod_pid)]
        elif a == "--listen":
            record("listen.log", next(rest))
            argv += ["--listen", f"tcp:127.0.0.1:{port}"]
        else:
            argv.append(a)
    stderr = open(os.path.join(args.record, f"{pod}.{container}.log"), "w")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    agent = AGENTS[(ns, pod, container)] = {"port": port, "process": process, "log": [], "ready": False}
    record("agents.pid", str(process.pid))

    def read_log():
        for line in process.stdout:
            agent["log"].append(line)
            agent["ready"] = agent["ready"] or line.startswith("mirrord-agent ready")

    threading.Thread(target=read_log, daemon=True).start()


def stop_agents(ns, pod):
    for (n, p, _), agent in AGENTS.items():
        if n == ns and p == pod and agent["process"].poll() is None:
            agent["process"].terminate()


def container_state(agent):
    code = agent["process"].poll()
    if code is None:
        return {"running": {"startedAt": now()}}, True
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "finishedAt": now()}}, False


def live(obj):
    """Whether refresh() writes this object's status (from its agents) at each read."""
    if obj["kind"] != "Pod":
        return False
    meta, first = obj["metadata"], obj["spec"]["containers"][0]
    return ((meta["namespace"], meta["name"], first.get("name")) in AGENTS or first.get("image") == "bad-image"
            or bool(obj["spec"].get("ephemeralContainers")))


ENCODED = {}  # id(obj) -> (obj, resourceVersion, its JSON): the API server's watch cache serves lists from memory too


def encoded(obj):
    if live(obj):
        return json.dumps(refresh(obj)).encode()
    cached = ENCODED.get(id(obj))
    if not cached or cached[0] is not obj or cached[1] != obj["metadata"].get("resourceVersion"):
        cached = ENCODED[id(obj)] = (obj, obj["metadata"].get("resourceVersion"), json.dumps(obj).encode())
    return cached[2]


def encoded_list(body):
    head = json.dumps({k: v for k, v in body.items() if k != "items"}).encode()
    return head[:-1] + b', "items": [' + b", ".join(encoded(o) for o in body["items"]) + b"]}"


def refresh(obj):
    """Pod and job status as the kubelet and the job controller would report them now."""
    meta = obj["metadata"]
    container = obj["spec"]["containers"][0] if obj["kind"] == "Pod" else {}
    if obj["kind"] == "Pod" and ((meta["namespace"], meta["name"], container.get("name")) in AGENTS or container.get("image") == "bad-image"):
        if container["image"] == "bad-image":
            obj["status"] = {"phase": "Pending", "containerStatuses": [
                {"name": container["name"], "image": "bad-image", "imageID": "", "ready": False, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "bad-image"'}}}]}
        else:
            agent = AGENTS[(meta["namespace"], meta["name"], container["name"])]
            state, running = container_state(agent)
            code = agent["process"].poll()
            obj["status"] = {"phase": "Running" if running else ("Succeeded" if code == 0 else "Failed"),
                             "podIP": "10.244.0.9", "hostIP": "192.168.0.11",
                             "conditions": [{"type": "Ready", "status": "True" if running else "False", "lastProbeTime": None,
                                             "lastTransitionTime": now()}],
                             "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "",
                                                    "ready": running, "restartCount": 0, "state": state}]}
    elif obj["kind"] == "Pod":
        statuses = []
        for ec in obj["spec"].get("ephemeralContainers", []):
            agent = AGENTS.get((meta["namespace"], meta["name"], ec["name"]))
            if agent:
                statuses.append({"name": ec["name"], "image": ec["image"], "imageID": "", "ready": False,
                                 "restartCount": 0, "state": container_state(agent)[0]})
        if statuses:
            obj["status"]["ephemeralContainerStatuses"] = statuses
    return obj


def janitor():
    """ttlSecondsAfterFinished: a finished agent Job goes, with its pods, after its TTL."""
    finished = {}
    while True:
        time.sleep(0.5)
        with LOCK:
            for key, job in list(STORE.items()):
                if key[1] != "jobs" or not job["metadata"]["name"].startswith("mirrord-agent-"):
                    continue
                ns, name = key[2], key[3]
                pods = [p for p in select("v1", "pods", ns, {"labelSelector": ["job-name=" + name]})]
                done = pods and all(refresh(p)["status"]["phase"] in ("Succeeded", "Failed") for p in pods)
                if done:
                    finished.setdefault(key, time.time())
                    if time.time() - finished[key] >= job["spec"].get("ttlSecondsAfterFinished", 1 << 30):
                        record("deleted.log", f"jobs/{ns}/{name} by ttlSecondsAfterFinished")
                        delete_job(ns, name, "Background")


def delete_job(ns, name, policy):
    del STORE[("batch/v1", "jobs", ns, name)]
    if policy in ("Background", "Foreground"):
        for pod in select("v1", "pods", ns, {"labelSelector": ["job-name=" + name]}):
            stop_agents(ns, pod["metadata"]["name"])
            del STORE[("v1", "pods", ns, pod["metadata"]["name"])]


def allowed_by_rbac(verb, group, resource):
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r.get("verbs", [])
               for r in RBAC_RULES)


class Request:
    """A request to a resource: /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] or /apis/G/V/..."""

    def __init__(self, method, path, query):
        parts = path.strip("/").split("/")
        self.method, self.query = method, query
        self.gv, rest = ("v1", parts[2:]) if parts[0] == "api" else ("/".join(parts[1:3]), parts[3:])
        self.ns = None
        if len(rest) >= 2 and rest[0] == "namespaces" and (len(rest) > 2):
            self.ns, rest = rest[1], rest[2:]
        self.resource = rest[0] if rest else ""
        self.name = rest[1] if len(rest) > 1 else None
        self.sub = rest[2] if len(rest) > 2 else None
        watching = query.get("watch", ["false"])[0].lower() in ("true", "t", "1")  # Go's ParseBool
        self.verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}.get(
            method, "watch" if watching else "get" if self.name else "list")
        self.known = self.gv in RESOURCES and any(r == self.resource for r, *_ in RESOURCES[self.gv])

    @property
    def group(self):
        return self.gv.split("/")[0] if "/" in self.gv else ""

    @property
    def rbac_resource(self):
        return self.resource + ("/" + self.sub if self.sub else "")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        record("requests.log", f"{self.command} {self.path} {a[1] if len(a) > 1 else ''}")

    def send_body(self, code, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def user(self):
        token = {"Bearer test-token": "token-user", "Bearer readonly-token": "readonly", "Bearer rbac-token": "rbac"}
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth.count(".") == 2:  # an OIDC id token (tests/k8s/oidc_issuer.py's)
            try:
                payload = auth.split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                return "oidc-user" if claims.get("mirrord-test") and claims.get("exp", 0) > time.time() else None
            except ValueError:
                return None
        if auth.startswith("Bearer exp-"):  # a short-lived token: valid until the time it carries
            return "token-user" if time.time() < int(auth[len("Bearer exp-"):]) else None
        if auth:
            return token.get(auth)
        cert = self.connection.getpeercert()
        name = dict(x[0] for x in cert["subject"]).get("commonName") if cert else None
        if name and name.startswith("exp-"):  # a short-lived certificate from an exec plugin, as the tokens above
            return "token-user" if time.time() < int(name[len("exp-"):]) else None
        return name

    def body(self):
        try:
            return json.loads(self.raw or b"{}")
        except ValueError:
            return None

    def handle_any(self, method):
        # Read whatever the request carries, answered or not: on a kept-alive connection an unread
        # body would be taken for the next request.
        self.raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        url = urllib.parse.urlparse(self.path)
        if args.prefix:  # served under a path, as Rancher's proxy serves clusters
            if not url.path.startswith(args.prefix + "/"):
                return self.send_body(*status(404, "NotFound", "the server could not find the requested resource"))
            url = url._replace(path=url.path[len(args.prefix):])
        url = url._replace(path=url.path.rstrip("/") or "/")
        query = urllib.parse.parse_qs(url.query)
        who = self.user()
        if not who:
            return self.send_body(*status(401, "Unauthorized", "Unauthorized"))
        if method == "GET" and url.path in DISCOVERY_PATHS or url.path.startswith("/openapi"):
            return self.discovery(url.path)
        if not (url.path.startswith("/api/") or url.path.startswith("/apis/")):
            return self.send_body(*status(404, "NotFound", "the server could not find the requested resource"))
        req = Request(method, url.path, query)
        if not req.known:
            return self.send_body(*status(404, "NotFound", "the server could not find the requested resource"))
        if who == "rbac" and not allowed_by_rbac(req.verb, req.group, req.rbac_resource):
            record("rbac-denied.log", f"{req.verb} {req.rbac_resource} ({method} {url.path})")
            return self.send_body(*status(403, "Forbidden", f'{req.rbac_resource} is forbidden: User "rbac" cannot '
                                                            f'{req.verb} resource "{req.rbac_resource}"'))
        if who == "readonly" and req.verb in ("create", "patch", "update", "delete"):
            return self.send_body(*status(403, "Forbidden", f'{req.resource}{"." + req.group if req.group else ""} is forbidden: '
                                                            f'User "readonly" cannot {req.verb} resource "{req.resource}" in API '
                                                            f'group "{req.group}" in the namespace "{req.ns}"'))
        if req.sub == "portforward":
            return self.port_forward(req)
        if req.sub == "log":
            return self.pod_log(req)
        if req.verb == "watch":
            return self.watch(req)
        with LOCK:
            code, body = self.route(req)
            if code < 300 and "as=Table" in self.headers.get("Accept", "") and req.method == "GET":
                body = table(body)
            elif code < 300 and "items" in body:
                body = encoded_list(body)
        self.send_body(code, body)

    def discovery(self, path):
        if path == "/version":
            return self.send_body(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "fake",
                                        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                                        "compiler": "gc", "platform": "linux/amd64"})
        if path == "/api":
            return self.send_body(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{args.port}"}]})
        if path == "/apis":
            groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                       "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}} for gv in RESOURCES if "/" in gv]
            return self.send_body(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if path.startswith("/openapi"):
            return self.send_body(*status(404, "NotFound", "the server could not find the requested resource"))
        gv = "v1" if path == "/api/v1" else path[len("/apis/"):]
        resources = [{"name": r, "singularName": "" if "/" in r else kind.lower(), "namespaced": namespaced, "kind": kind,
                      "verbs": verbs, **({"shortNames": short} if short else {}),
                      **({"categories": ["all"]} if r in ALL else {})}
                     for r, kind, namespaced, verbs, short in RESOURCES[gv]]
        return self.send_body(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})

    def route(self, req):
        key = (req.gv, req.resource, req.ns or "", req.name)
        if req.method == "GET" and req.name:
            obj = STORE.get(key)
            return (200, refresh(obj)) if obj else not_found(req.gv, req.resource, req.name)
        if req.method == "GET":  # refreshed as they are encoded
            items = select(req.gv, req.resource, req.ns, req.query)
            return 200, {"kind": kind_of(req.gv, req.resource) + "List", "apiVersion": req.gv,
                         "metadata": {"resourceVersion": str(REVISION[0])}, "items": items}
        if req.method in ("POST", "PATCH") and "json" not in self.headers.get("Content-Type", ""):
            # kubectl sends built-in types as protobuf, which this stand-in does not decode: say so as the API would.
            return status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media "
                                                       f"types include: application/json, application/merge-patch+json")
        if req.method == "POST" and not req.name:
            return self.create(req, self.body())
        if req.method == "PATCH" and req.resource == "pods" and req.sub == "ephemeralcontainers":
            return self.add_ephemeral(req, key, self.body())
        if req.method == "DELETE" and req.name:
            return self.delete(req, key)
        return status(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")

    def create(self, req, obj):
        if not isinstance(obj, dict) or not obj.get("metadata", {}).get("name"):
            return status(422, "Invalid", f'{req.resource} "" is invalid: metadata.name: Required value: name or generateName is required',
                          {"kind": kind_of(req.gv, req.resource), "causes": [{"field": "metadata.name", "reason": "FieldValueRequired"}]})
        name = obj["metadata"]["name"]
        if (req.gv, req.resource, req.ns, name) in STORE:
            return status(409, "AlreadyExists", f'{req.resource}{"." + req.group if req.group else ""} "{name}" already exists',
                          {"name": name, "group": req.group, "kind": req.resource})
        if req.resource != "jobs":
            return status(405, "MethodNotAllowed", "this stand-in creates jobs only")
        containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
        if not containers or not all(c.get("name") and c.get("image") for c in containers):
            return status(422, "Invalid", f'Job.batch "{name}" is invalid: spec.template.spec.containers: Required value',
                          {"name": name, "kind": "Job"})
        obj["metadata"].update(namespace=req.ns, creationTimestamp=now())
        obj.setdefault("status", {})
        job = put("batch/v1", "jobs", obj)
        with open(os.path.join(args.record, "job.json"), "w") as f:
            json.dump(job, f)
        if req.ns == "locked":
            put("v1", "events", {"metadata": {"name": name + ".1", "namespace": req.ns}, "reason": "FailedCreate", "type": "Warning",
                                 "involvedObject": {"kind": "Job", "name": name, "namespace": req.ns},
                                 "message": 'Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": '
                                            'hostPID=true, privileged'})
        elif req.ns != "slow":
            pod_spec = copy.deepcopy(obj["spec"]["template"]["spec"])
            pod_name = name + "-" + uuid.uuid4().hex[:5]
            labels = dict(obj["spec"]["template"].get("metadata", {}).get("labels", {}), **{"job-name": name})
            put("v1", "pods", {"metadata": {"name": pod_name, "namespace": req.ns, "labels": labels, "creationTimestamp": now(),
                                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                                                 "uid": job["metadata"]["uid"], "controller": True}]},
                               "spec": pod_spec, "status": {"phase": "Pending"}})
            command = containers[0].get("command") or []
            if containers[0]["image"] != "bad-image" and command[:1] == ["mirrord-agent"]:
                run_agent(req.ns, pod_name, containers[0]["name"], command)
        return 201, job

    def add_ephemeral(self, req, key, patch):
        pod = STORE.get(key)
        if not pod:
            return not_found(req.gv, req.resource, req.name)
        spec = patch["spec"]["ephemeralContainers"][0]
        with open(os.path.join(args.record, "ephemeral.json"), "w") as f:
            json.dump(spec, f)
        pod["spec"].setdefault("ephemeralContainers", []).append(spec)
        pod["metadata"]["resourceVersion"] = next_revision()
        run_agent(req.ns, req.name, spec["name"], spec["command"])
        return 200, refresh(pod)

    def delete(self, req, key):
        obj = STORE.get(key)
        if not obj:
            return not_found(req.gv, req.resource, req.name)
        body = self.body() or {}
        policy = req.query.get("propagationPolicy", [body.get("propagationPolicy", "Orphan")])[0]
        record("deleted.log", f"{req.resource}/{req.ns}/{req.name} propagationPolicy={policy}")
        if req.resource == "jobs":
            delete_job(req.ns, req.name, policy)
        else:
            if req.resource == "pods":
                stop_agents(req.ns, req.name)
            del STORE[key]
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": req.name, "group": req.group, "kind": req.resource, "uid": obj["metadata"]["uid"]}}

    def stream(self, content_type, chunks):
        """A chunked response from an iterator of byte strings, until it ends or the client goes."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for data in chunks:
                if data:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        self.close_connection = True

    def watch(self, req):
        """Events after the given resourceVersion, by comparing snapshots, until timeoutSeconds."""
        since = int(req.query.get("resourceVersion", ["0"])[0] or 0)
        deadline = time.time() + min(int(req.query.get("timeoutSeconds", ["60"])[0]), 60)
        known = {}
        with LOCK:
            for o in select(req.gv, req.resource, req.ns, req.query):
                if since and int(o["metadata"]["resourceVersion"]) <= since:
                    known[o["metadata"]["name"]] = o

        def events(known):
            while time.time() < deadline:
                with LOCK:
                    current = {o["metadata"]["name"]: copy.deepcopy(refresh(o)) for o in select(req.gv, req.resource, req.ns, req.query)}
                for name, o in current.items():
                    if name not in known or known[name]["metadata"]["resourceVersion"] != o["metadata"]["resourceVersion"]:
                        yield json.dumps({"type": "MODIFIED" if name in known else "ADDED", "object": o}).encode() + b"\n"
                for name in set(known) - set(current):
                    yield json.dumps({"type": "DELETED", "object": known[name]}).encode() + b"\n"
                known = current
                time.sleep(0.1)

        self.stream("application/json", events(known))

    def pod_log(self, req):
        with LOCK:
            pod = STORE.get(("v1", "pods", req.ns, req.name))
        if not pod:
            return self.send_body(*not_found("v1", "pods", req.name))
        names = [c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("ephemeralContainers", [])]
        container = req.query.get("container", [""])[0]
        if not container:
            container = pod["metadata"].get("annotations", {}).get("kubectl.kubernetes.io/default-container", "")
        if not container and len(pod["spec"]["containers"]) == 1:
            container = names[0]
        if container not in names:
            return self.send_body(*status(400, "BadRequest", f"a container name must be specified for pod {req.name}, "
                                                             f"choose one of: {names}" if not container else
                                          f"container {container} is not valid for pod {req.name}"))
        agent = AGENTS.get((req.ns, req.name, container))
        if not agent:
            if pod["status"]["phase"] != "Running":
                return self.send_body(*status(400, "BadRequest", f'container "{container}" in pod "{req.name}" is waiting to start: '
                                                                 "ContainerCreating"))
            return self.send_body(200, f"{container} listening on :80\n".encode(), "text/plain")
        if req.query.get("follow", ["false"])[0].lower() not in ("true", "t", "1"):
            return self.send_body(200, "".join(agent["log"]).encode(), "text/plain")
        def lines():
            sent = 0
            while True:
                new = agent["log"][sent:]
                yield from (line.encode() for line in new)
                sent += len(new)
                if agent["process"].poll() is not None and sent == len(agent["log"]):
                    return
                time.sleep(0.05)

        self.stream("text/plain", lines())

    def port_forward(self, req):
        """WebSocket (GET) or SPDY upgrade (POST), to the agent that runs as this pod's container."""
        record("requests.log", f"{self.command} {self.path} (upgrade to {self.headers.get('Upgrade', 'nothing')})")
        if os.path.exists(os.path.join(args.record, "refuse-port-forward")):  # the test plays an API server outage
            return self.send_body(*status(503, "ServiceUnavailable", "the API server is restarting"))
        with LOCK:
            agents = [a for (n, p, _), a in AGENTS.items() if n == req.ns and p == req.name and a["process"].poll() is None]
        if not agents:
            return self.send_body(*status(400, "BadRequest", f"pod {req.name} does not run anything to forward to"))
        agent = agents[-1]

        def connect():
            try:
                return socket.create_connection(("127.0.0.1", agent["port"]))
            except OSError:
                return None

        upgrade = self.headers.get("Upgrade", "").lower()
        sock = self.connection
        if upgrade == "websocket":
            offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
            supported = ["SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io"]
            chosen = next((p for p in offered if p in supported), None)
            record("subprotocols.log", f"offered {offered} chose {chosen}")
            if chosen is None:
                # As the apiserver's wsstream handshake does: 403, and no upgrade.
                return self.send_body(403, f"unable to upgrade: requested protocol(s) are not supported: {offered}; "
                                           f"supports {supported}".encode(), "text/plain")
            ports = req.query.get("ports", [""])[0]
            if chosen == "v4.channel.k8s.io" and not ports.isdigit():
                return self.send_body(*status(400, "BadRequest", 'query parameter "ports" is required'))
            self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Accept: {streams.websocket_accept(self.headers['Sec-WebSocket-Key'])}\r\n"
                              f"Sec-WebSocket-Protocol: {chosen}\r\n\r\n").encode())
            self.wfile.flush()
            ws = streams.WebSocket(sock, self.rfile)
            if chosen == "v4.channel.k8s.io":
                streams.channel_port_forward(ws, int(ports), connect)
            else:
                streams.SpdyPortForward(streams.WebSocketStream(ws), connect).serve()
        elif upgrade == "spdy/3.1":
            offered = [p.strip() for p in self.headers.get_all("X-Stream-Protocol-Version", [])]
            record("subprotocols.log", f"spdy offered {offered}")
            if "portforward.k8s.io" not in offered:
                return self.send_body(*status(403, "Forbidden", f"protocol(s) {offered} are not supported"))
            self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                             b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
            self.wfile.flush()
            streams.SpdyPortForward(streams.SocketStream(sock, self.rfile), connect).serve()
        else:
            return self.send_body(*status(400, "BadRequest", "Upgrade request required"))
        self.close_connection = True

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


DISCOVERY_PATHS = {"/version", "/api", "/apis", "/api/v1"} | {"/apis/" + gv for gv in RESOURCES if "/" in gv}


def age(obj):
    created = time.mktime(time.strptime(obj["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    minutes = int(time.time() - created) // 60
    return f"{minutes // 60}h" if minutes >= 60 else f"{minutes}m"


def table(body):
    """The server-side printing kubectl asks for (Accept: ...;as=Table;g=meta.k8s.io)."""
    items = [refresh(o) for o in body["items"]] if "items" in body else [body]
    pods = bool(items) and items[0]["kind"] == "Pod"
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    if pods:
        columns += [{"name": n, "type": "string", "format": "", "description": n, "priority": 0} for n in ("Ready", "Status")]
    columns.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = []
    for o in items:
        cells = [o["metadata"]["name"]]
        if pods:
            statuses = o["status"].get("containerStatuses", [])
            phase = "Terminating" if o["metadata"].get("deletionTimestamp") else o["status"].get("phase", "")
            cells += [f'{sum(1 for s in statuses if s.get("ready"))}/{len(o["spec"]["containers"])}', phase]
        rows.append({"cells": cells + [age(o)], "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                           "metadata": o["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(REVISION[0])},
            "columnDefinitions": columns, "rows": rows}


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        # As Go's net/http (the API server's): no Nagle delay between a response's header and its body.
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


def main():
    global args
    p = argparse.ArgumentParser()
    for a in ("--port", "--pod-pid"):
        p.add_argument(a, type=int, required=True)
    for a in ("--cert", "--key", "--ca", "--agent", "--record"):
        p.add_argument(a, required=True)
    p.add_argument("--rbac")
    p.add_argument("--prefix", default="", help="serve everything under this path (a Rancher-style server URL)")
    p.add_argument("--bulk-pods", type=int, default=0, help="a namespace 'bulk' with this many pods in 100 deployments (scale)")
    args = p.parse_args()
    if args.rbac:
        import yaml
        for doc in yaml.safe_load_all(open(args.rbac)):
            if doc and doc.get("kind") == "ClusterRole":
                RBAC_RULES.extend(doc["rules"])
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: every thread's stack, on stderr
    seed()
    if args.bulk_pods:
        put("v1", "namespaces", {"metadata": {"name": "bulk"}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        for i in range(100):
            workload("apps/v1", "deployments", f"svc-{i}", {"matchLabels": {"app": f"svc-{i}"}}, namespace="bulk")
        for i in range(args.bulk_pods):
            app_pod(f"svc-{i % 100}-{i:05d}", {"app": f"svc-{i % 100}"}, namespace="bulk")
    threading.Thread(target=janitor, daemon=True).start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.load_verify_locations(args.ca)
    context.verify_mode = ssl.CERT_OPTIONAL  # client certificates authenticate, tokens too
    server = Server(("127.0.0.1", args.port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("fake apiserver ready", flush=True)
    try:
        server.serve_forever()
    finally:
        for agent in AGENTS.values():
            agent["process"].kill()


if __name__ == "__main__":
    main()
