#!/bin/bash
# The stand-in API server is only worth its tests if real clients accept it unmodified: kubectl
# (discovery, get -o yaml, Table output, logs, delete with its watch, port-forward over SPDY tunnelled
# in WebSocket and over a plain SPDY upgrade) and the python3-kubernetes client (typed models, which
# reject objects missing required fields; watch). The agent kubectl forwards to is one a mirrord
# session started, and the session's end deletes it.
source "$(dirname "$0")/lib.sh"
sandbox_up
source "$(dirname "$0")/k8s_lib.sh"
export KUBECONFIG=$K/token.yaml
kc() { kubectl --cache-dir "$K/kubectl-cache" --request-timeout 20s "$@"; }

# Debian's own kubectl (1.20) is used where no newer one is installed: it prints versions its own way
# and port-forwards over plain SPDY only (WebSocket tunnelling came in 1.31).
check_contains "kubectl: version (discovery)" "v1.32.0" "$(kc version 2>&1)"
kubectl_minor=$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))' 2>/dev/null || echo 0)
out=$(kc get pods 2>&1)
check_matches "kubectl get pods: server-side table" "^api-7d9f8c-x2v4q +2/2 +Running" "$out"
check_matches "... a pod being deleted shows as Terminating" "^half-a-deleting .*Terminating" "$out"
out=$(kc get deploy api -o yaml 2>&1)
check_contains "kubectl get deploy -o yaml" "kind: Deployment" "$out"
check_contains "... with its selector" "app: api" "$out"
check_contains "kubectl get pods -o yaml: a List" "kind: List" "$(kc get pods -o yaml 2>&1)"
check_contains "kubectl get all (categories)" "deployment.apps/api" "$(kc get all 2>&1)"
check_contains "kubectl: NotFound as a Status" 'Error from server (NotFound): deployments.apps "nope" not found' "$(kc get deploy nope 2>&1)"
check_contains "kubectl logs: the default-container annotation" "worker listening" "$(kc logs annotated 2>&1)"

python_client() {
    /usr/bin/python3 - "$KUBECONFIG" <<'PY'
import json, sys
from kubernetes import client, config, watch
config.load_kube_config(config_file=sys.argv[1])
core, apps = client.CoreV1Api(), client.AppsV1Api()
pods = core.list_namespaced_pod("shop")
print("pods:", " ".join(p.metadata.name for p in pods.items))
api = next(p for p in pods.items if p.metadata.name.startswith("api-"))
print("containers ready:", [(c.name, c.ready) for c in api.status.container_statuses])
d = apps.read_namespaced_deployment("api", "shop")
print("deployment selector:", d.spec.selector.match_labels)
try:
    apps.read_namespaced_deployment("nope", "shop")
except client.exceptions.ApiException as e:
    print("missing deployment:", e.status)
events = sum(1 for _ in watch.Watch().stream(core.list_namespaced_pod, "shop", timeout_seconds=1))
print("watch events:", events)
print("server:", client.VersionApi().get_code().git_version)
batch = client.BatchV1Api()
def job(name, containers):
    return client.V1Job(metadata=client.V1ObjectMeta(name=name), spec=client.V1JobSpec(
        template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=containers, restart_policy="Never"))))
batch.create_namespaced_job("shop", job("hello", [client.V1Container(name="c", image="busybox")]))
for name, containers in (("hello", [client.V1Container(name="c", image="busybox")]), ("empty", [])):
    try:
        batch.create_namespaced_job("shop", job(name, containers))
    except client.exceptions.ApiException as e:
        print(f"create {name}:", e.status, json.loads(e.body)["reason"])
batch.delete_namespaced_job("hello", "shop", propagation_policy="Background")
print("jobs left:", [j.metadata.name for j in batch.list_namespaced_job("shop").items])
PY
}
out=$(python_client 2>&1)
check_contains "python3-kubernetes: lists pods" "pods: annotated api-7d9f8c-x2v4q" "$out"
check_contains "... reads container statuses" "('app', True)" "$out"
check_contains "... reads a deployment" "deployment selector: {'app': 'api'}" "$out"
check_contains "... a 404 as an ApiException" "missing deployment: 404" "$out"
check_matches "... watches" "watch events: [1-9]" "$out"
check_contains "... the version" "server: v1.32.0" "$out"
check_contains "... creates a job; again: 409 AlreadyExists" "create hello: 409 AlreadyExists" "$out"
check_contains "... a job without containers: 422 Invalid" "create empty: 422 Invalid" "$out"
check_contains "... deletes it with a propagation policy" "jobs/shop/hello propagationPolicy=Background" "$(cat "$K/record/deleted.log")"
check_contains "... and it is gone" "jobs left: ['report-28001']" "$out"

# A mirrord session's agent, seen and reached with kubectl while the session runs.
"$MIRRORD" exec --target deploy/api -- sleep 10 >"$WORK/session.out" 2>&1 &
SESSION=$!
BACKGROUND_PIDS+=($SESSION)
agent_pod=""
for _ in $(seq 100); do
    agent_pod=$(kc get pods -l app=mirrord -o name 2>/dev/null | head -1)
    [ -n "$agent_pod" ] && kc logs "$agent_pod" 2>/dev/null | grep -q "ready" && break
    sleep 0.2
done
check_contains "kubectl logs of the agent: its ready line" "mirrord-agent ready" "$(kc logs "$agent_pod" 2>&1)"
ready_fingerprint=$(kc logs "$agent_pod" 2>/dev/null | grep -o 'fingerprint=[0-9a-f]*' | cut -d= -f2)
forward() {  # forward PORT [ENV...]: kubectl port-forward to the agent; what a stranger and a TLS client get there
    env "${@:2}" kubectl --cache-dir "$K/kubectl-cache" port-forward "$agent_pod" "$1:61337" >"$WORK/pf-$1.out" 2>&1 &
    local pf=$!
    wait_for_text "$WORK/pf-$1.out" Forwarding 5
    # A client without the session's key: closed before any request is read.
    "$PROBE" "tcp:127.0.0.1:$1" hello 2>&1 | head -1
    # The agent's TLS identity, through the same forward: the fingerprint its ready line announced.
    openssl s_client -connect "127.0.0.1:$1" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null |
        cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f'
    kill "$pf" 2>/dev/null
    wait "$pf" 2>/dev/null
}
out=$(forward "$(free_port)")
check_not_contains "kubectl port-forward to the agent (SPDY in WebSocket): a client without the session's key is refused" \
    "hostname" "$out"
check_contains "... while the agent's TLS certificate, reached through it, is the one its log announced" "$ready_fingerprint" "$out"
check_eq "... (which is a SHA-256)" "64" "${#ready_fingerprint}"
[ "${kubectl_minor:-0}" -ge 31 ] && check_contains "... negotiated" "chose SPDY/3.1+portforward.k8s.io" "$(cat "$K/record/subprotocols.log")"
out=$(forward "$(free_port)" KUBECTL_PORT_FORWARD_WEBSOCKETS=false)
check_contains "kubectl port-forward over a plain SPDY upgrade reaches it too" "$ready_fingerprint" "$out"
check_contains "... negotiated" "spdy offered ['portforward.k8s.io']" "$(cat "$K/record/subprotocols.log")"

# The stand-in refuses what it does not speak, as the API server does.
out=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$K/ca.crt" -H "Authorization: Bearer test-token" \
    -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" \
    -H "Sec-WebSocket-Protocol: v5.channel.k8s.io" \
    "https://127.0.0.1:$PORT/api/v1/namespaces/shop/pods/${agent_pod#pod/}/portforward?ports=61337" 2>&1)
check_eq "an unsupported WebSocket subprotocol is refused" "403" "$out"

wait "$SESSION"
check_eq "the session ends well" "0" "$?"
out=$(kc get jobs -o name 2>&1)
check_not_contains "the session's end deleted its agent Job" "mirrord-agent" "$out"
check_matches "... with its pods (propagationPolicy=Background)" "^jobs/shop/mirrord-agent-[a-z0-9]+ propagationPolicy=Background" "$(cat "$K/record/deleted.log")"
check_eq "... and kubectl sees no agent pod" "" "$(kc get pods -l app=mirrord -o name 2>&1)"

out=$(kc delete pod old-pending 2>&1)
check_contains "kubectl delete (and its wait, a watch)" 'pod "old-pending" deleted' "$out"
check_contains "... it is gone" "NotFound" "$(kc get pod old-pending 2>&1)"
finish
