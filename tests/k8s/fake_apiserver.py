#!/usr/bin/python3
"""A stand-in Kubernetes API server for the end-to-end tests: HTTPS, bearer-token and client
certificate authentication, the resources mirrord reads (pods, deployments, services, statefulsets,
replicasets, jobs, cronjobs, Argo rollouts, events) in the shapes the real API returns, agent Jobs
and ephemeral containers that really run — a local mirrord-agent entering the sandbox pod — and the
WebSocket port-forward protocol (v4.channel.k8s.io) to them.

  fake_apiserver.py --port N --cert C --key K --ca CA --pod-pid PID --agent BIN --record DIR

Scenarios: agent image "bad-image" never pulls (ImagePullBackOff); namespace "locked" refuses pods
(a FailedCreate event, as PodSecurity admission does); namespace "slow" never schedules them; the
token "readonly-token" may read but not create (403)."""
import argparse
import base64
import hashlib
import http.server
import json
import os
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

args = None
LOCK = threading.Lock()
CONTAINER_ID = "containerd://" + "4f1e0c3a9b7d2e6f8a1b3c5d7e9f0a2b" * 2
SIDECAR_ID = "containerd://" + "9" * 64
JOBS = {}      # (ns, name) -> job
AGENTS = {}    # pod name -> {"port": local port, "process": Popen, "ready": bool, ...}
EVENTS = []
RBAC_RULES = []


def allowed_by_rbac(method, parts, query):
    """The verb, API group and resource of a request, checked against the ClusterRole's rules."""
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        group, rest = parts[1], parts[3:]
    resource = rest[2] if len(rest) > 2 else ""
    name = rest[3] if len(rest) > 3 else None
    if len(rest) > 4:
        resource += "/" + rest[4]
    verb = {"POST": "create", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}.get(method)
    if verb is None:
        verb = "get" if name else "list"
    for rule in RBAC_RULES:
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule.get("verbs", []):
            return True
    return False


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def app_pod(name, labels, ns="shop"):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": "uid-" + name, "creationTimestamp": now()},
        "spec": {"nodeName": "node-1", "containers": [{"name": "istio-proxy", "image": "istio/proxyv2"},
                                                     {"name": "app", "image": "shop/api:1.0"}]},
        "status": {"phase": "Running", "podIP": "10.77.0.2", "hostIP": "192.168.0.11",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [
                       {"name": "istio-proxy", "ready": True, "containerID": SIDECAR_ID, "state": {"running": {}}},
                       {"name": "app", "ready": True, "containerID": CONTAINER_ID, "state": {"running": {}}}]},
    }


def workload(kind, api_version, name, selector, ns="shop"):
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": ns, "creationTimestamp": now()},
            "spec": {"selector": selector, "template": {"metadata": {"labels": selector.get("matchLabels", {})}}}}


PODS = {("shop", "api-7d9f8c-x2v4q"): app_pod("api-7d9f8c-x2v4q", {"app": "api", "pod-template-hash": "7d9f8c"}),
        ("shop", "db-0"): app_pod("db-0", {"app": "db"}),
        ("shop", "report-28001-abcde"): app_pod("report-28001-abcde", {"job-name": "report-28001"}),
        ("shop", "old-pending"): dict(app_pod("old-pending", {"app": "old"}), status={"phase": "Pending"})}
COLLECTIONS = {
    ("apis/apps/v1", "deployments"): {("shop", "api"): workload("Deployment", "apps/v1", "api", {"matchLabels": {"app": "api"}})},
    ("apis/apps/v1", "statefulsets"): {("shop", "db"): workload("StatefulSet", "apps/v1", "db", {"matchLabels": {"app": "db"}})},
    ("apis/apps/v1", "replicasets"): {("shop", "api-7d9f8c"): workload("ReplicaSet", "apps/v1", "api-7d9f8c",
                                                                     {"matchLabels": {"app": "api", "pod-template-hash": "7d9f8c"}})},
    ("apis/argoproj.io/v1alpha1", "rollouts"): {("shop", "web"): workload("Rollout", "argoproj.io/v1alpha1", "web",
                                                                         {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]})},
    ("apis/batch/v1", "cronjobs"): {("shop", "report"): {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "shop"},
                                                       "spec": {"schedule": "*/5 * * * *"}}},
    ("api/v1", "services"): {("shop", "api"): {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
                                              "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}},
}
JOBS[("shop", "report-28001")] = {"apiVersion": "batch/v1", "kind": "Job",
                                  "metadata": {"name": "report-28001", "namespace": "shop", "creationTimestamp": now(),
                                               "ownerReferences": [{"kind": "CronJob", "name": "report"}]},
                                  "spec": {"selector": {"matchLabels": {"job-name": "report-28001"}}}}


def status(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}


def matches(labels, selector):
    for term in filter(None, selector.split(",")):
        if " in (" in term:
            key, values = term.split(" in (")
            if labels.get(key) not in values.rstrip(")").split(","):
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
    return True


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_agent(pod_name, command, record):
    """Starts the real agent for an agent pod: the target is the sandbox pod, the listener local."""
    port = free_port()
    argv = [args.agent]
    skip = False
    for i, a in enumerate(command[1:], 1):
        if skip:
            skip = False
            continue
        if a in ("--container-id", "--target-pid"):
            argv += ["--target-pid", str(args.pod_pid)]
            skip = True
            record["target_arg"] = [a, command[i + 1]]
        elif a == "--listen":
            argv += ["--listen", f"tcp:127.0.0.1:{port}"]
            skip = True
        else:
            argv.append(a)
    log = open(os.path.join(args.record, f"{pod_name}.log"), "w")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
    AGENTS[pod_name] = {"port": port, "process": process, "ready": False}

    def wait_ready():
        line = process.stdout.readline()
        AGENTS[pod_name]["ready"] = line.startswith(b"mirrord-agent ready")

    threading.Thread(target=wait_ready, daemon=True).start()


def agent_pod_for_job(ns, job):
    name = job["metadata"]["name"] + "-pod"
    container = job["spec"]["template"]["spec"]["containers"][0]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": {"job-name": job["metadata"]["name"]}},
           "spec": job["spec"]["template"]["spec"], "status": {"phase": "Pending"}}
    if container["image"] != "bad-image":
        run_agent(name, container["command"], {})
    return pod


def refresh_agent_pod(pod):
    name = pod["metadata"]["name"]
    containers = pod["spec"]["containers"]
    if containers and containers[0]["image"] == "bad-image":
        pod["status"] = {"phase": "Pending", "containerStatuses": [
            {"name": containers[0]["name"], "ready": False,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "bad-image"'}}}]}
    elif name in AGENTS and AGENTS[name]["ready"]:
        pod["status"] = {"phase": "Running", "podIP": "10.244.0.9",
                         "conditions": [{"type": "Ready", "status": "True"}],
                         "containerStatuses": [{"name": containers[0]["name"], "ready": True, "state": {"running": {}}}]}
    return pod


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        with open(os.path.join(args.record, "requests.log"), "a") as f:
            f.write(f"{self.command} {self.path} {a[1] if len(a) > 1 else ''}\n")

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def user(self):
        auth = self.headers.get("Authorization", "")
        if auth == "Bearer test-token":
            return "token-user"
        if auth == "Bearer readonly-token":
            return "readonly"
        if auth == "Bearer rbac-token":
            return "rbac"
        cert = self.connection.getpeercert()
        if cert:
            return dict(x[0] for x in cert["subject"]).get("commonName", "cert-user")
        return None

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def handle_any(self, method):
        who = self.user()
        if not who:
            return self.send_json(*status(401, "Unauthorized", "Unauthorized"))
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        if who == "rbac" and not allowed_by_rbac(method, parts, query):
            with open(os.path.join(args.record, "rbac-denied.log"), "a") as f:
                f.write(f"{method} {url.path}\n")
            return self.send_json(*status(403, "Forbidden", f"rbac: {method} {url.path} is not granted by the ClusterRole"))
        if "portforward" in parts and method == "GET":
            return self.port_forward(parts)
        with LOCK:
            code, body = self.route(method, parts, query, who)
        self.send_json(code, body)

    def route(self, method, parts, query, who):
        # /api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]] or /apis/{group}/{version}/namespaces/...
        if parts[0] == "api":
            prefix, rest = "api/v1", parts[2:]
        else:
            prefix, rest = "/".join(parts[:3]), parts[3:]
        if len(rest) < 3 or rest[0] != "namespaces":
            return status(404, "NotFound", "the server could not find the requested resource")
        ns, resource, name = rest[1], rest[2], rest[3] if len(rest) > 3 else None
        sub = rest[4] if len(rest) > 4 else None
        selector = query.get("labelSelector", [""])[0]

        if resource == "pods":
            if method == "PATCH" and sub == "ephemeralcontainers":
                pod = PODS.get((ns, name))
                if not pod:
                    return status(404, "NotFound", f'pods "{name}" not found')
                spec = self.body()["spec"]["ephemeralContainers"][0]
                with open(os.path.join(args.record, "ephemeral.json"), "w") as f:
                    json.dump(spec, f)
                pod["spec"].setdefault("ephemeralContainers", []).append(spec)
                run_agent(name, spec["command"], {})
                return 200, pod
            if name:
                pod = PODS.get((ns, name))
                if not pod:
                    return status(404, "NotFound", f'pods "{name}" not found')
                if name in AGENTS and pod["spec"].get("ephemeralContainers"):
                    ec = pod["spec"]["ephemeralContainers"][-1]
                    state = {"running": {}} if AGENTS[name]["ready"] else {"waiting": {"reason": "ContainerCreating"}}
                    pod["status"]["ephemeralContainerStatuses"] = [{"name": ec["name"], "state": state}]
                return 200, pod
            items = [refresh_agent_pod(p) if p["metadata"]["name"].endswith("-pod") else p
                     for (n, _), p in PODS.items() if n == ns and matches(p["metadata"].get("labels", {}), selector)]
            return 200, {"kind": "PodList", "apiVersion": "v1", "items": items}

        if resource == "events":
            field = query.get("fieldSelector", [""])[0]
            obj = field.split("=", 1)[1] if "=" in field else ""
            return 200, {"kind": "EventList", "items": [e for e in EVENTS if e["involvedObject"]["name"] == obj]}

        if resource == "jobs":
            if method == "POST":
                if who == "readonly":
                    return status(403, "Forbidden", f'jobs.batch is forbidden: User "readonly" cannot create resource "jobs" '
                                                    f'in API group "batch" in the namespace "{ns}"')
                job = self.body()
                job["metadata"]["namespace"] = ns
                JOBS[(ns, job["metadata"]["name"])] = job
                with open(os.path.join(args.record, "job.json"), "w") as f:
                    json.dump(job, f)
                if ns == "locked":
                    EVENTS.append({"reason": "FailedCreate", "involvedObject": {"name": job["metadata"]["name"]},
                                   "message": 'Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": '
                                              'hostPID=true, privileged'})
                elif ns != "slow":
                    pod = agent_pod_for_job(ns, job)
                    PODS[(ns, pod["metadata"]["name"])] = pod
                return 201, job
            if name:
                job = JOBS.get((ns, name))
                return (200, job) if job else status(404, "NotFound", f'jobs.batch "{name}" not found')
            return 200, {"kind": "JobList", "items": [j for (n, _), j in JOBS.items() if n == ns]}

        table = COLLECTIONS.get((prefix, resource))
        if table is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        if name:
            item = table.get((ns, name))
            group = prefix.split("/")[1] if prefix.startswith("apis/") else ""
            kind = resource + ("." + group if group else "")
            return (200, item) if item else status(404, "NotFound", f'{kind} "{name}" not found')
        return 200, {"items": [v for (n, _), v in table.items() if n == ns]}

    def port_forward(self, parts):
        pod = parts[parts.index("pods") + 1]
        agent = AGENTS.get(pod)
        if self.headers.get("Upgrade", "").lower() != "websocket" or not agent:
            return self.send_json(*status(400, "BadRequest", "upgrade to websocket expected, to a running pod"))
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
        self.wfile.flush()
        ws = self.connection
        port = struct.pack("<H", int(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["ports"][0]))
        upstream = socket.create_connection(("127.0.0.1", agent["port"]))
        send_lock = threading.Lock()

        def frame(payload, opcode=2):
            n = len(payload)
            head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n) if n < 65536
                                             else bytes([127]) + struct.pack(">Q", n))
            with send_lock:
                ws.sendall(head + payload)

        frame(b"\x00" + port)  # each channel's first frame: the port
        frame(b"\x01" + port)

        def agent_to_ws():
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                frame(b"\x00" + data)
            try:
                frame(b"", 8)
            except OSError:
                pass

        threading.Thread(target=agent_to_ws, daemon=True).start()
        reader = ws.makefile("rb")
        try:
            while True:
                b0, b1 = reader.read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", reader.read(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", reader.read(8))[0]
                mask = reader.read(4) if b1 & 0x80 else b"\0\0\0\0"
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(reader.read(n)))
                if b0 & 0x0F == 8:
                    break
                if payload and payload[0] == 0:
                    upstream.sendall(payload[1:])
        except (ValueError, OSError):
            pass
        upstream.close()
        self.close_connection = True

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args
    p = argparse.ArgumentParser()
    for a in ("--port", "--pod-pid"):
        p.add_argument(a, type=int, required=True)
    for a in ("--cert", "--key", "--ca", "--agent", "--record"):
        p.add_argument(a, required=True)
    p.add_argument("--rbac")
    args = p.parse_args()
    if args.rbac:
        import yaml
        for doc in yaml.safe_load_all(open(args.rbac)):
            if doc and doc.get("kind") == "ClusterRole":
                RBAC_RULES.extend(doc["rules"])
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
