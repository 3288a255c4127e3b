#!/bin/bash
# mirrord exec against Kubernetes targets, through a stand-in API server (tests/k8s/fake_apiserver.py)
# that speaks the real API's shapes and runs each agent Job as a real agent entering the sandbox
# pod: kubeconfig (token, client certificate, exec plugin, CA, insecure), every target kind, the
# agent Job, the ephemeral container, port-forward over WebSocket, `mirrord ls`, and the errors.
source "$(dirname "$0")/lib.sh"
sandbox_up
source "$(dirname "$0")/k8s_lib.sh"

export KUBECONFIG=$K/token.yaml
out=$("$MIRRORD" ls 2>&1)
check_contains "mirrord ls lists pods" "pod/api-7d9f8c-x2v4q" "$out"
check_contains "... containers of multi-container pods" "pod/api-7d9f8c-x2v4q/container/app" "$out"
for t in deployment/api rollout/web statefulset/db cronjob/report service/api; do
    check_matches "... $t" "^$t\$" "$out"
done
check_contains "... as JSON" '"deployment/api"' "$("$MIRRORD" ls --json 2>&1)"

out=$("$MIRRORD" exec --target deploy/api -- sh -c 'curl -sS http://backend/; cat /app/config.yaml | head -2; echo "$SECRET_TOKEN"; hostname' 2>&1)
check_contains "deploy/api: the program reaches the cluster service through the agent" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... reads the pod's files" "service: checkout" "$out"
check_contains "... has its env" "pod-only-secret-42" "$out"
check_contains "... and its hostname" "$SANDBOX_NAME-pod-7d9f" "$out"

job=$K/record/job.json
jq_() { python3 -c "import json,sys; d=json.load(open('$job')); print(eval(sys.argv[1]))" "$1"; }
check_eq "the agent Job runs on the target's node" "node-1" "$(jq_ "d['spec']['template']['spec']['nodeName']")"
check_eq "with hostPID" "True" "$(jq_ "d['spec']['template']['spec']['hostPID']")"
check_eq "targeting the app container, not the mesh sidecar" "['--container-id', 'containerd://$(printf '4f1e0c3a9b7d2e6f8a1b3c5d7e9f0a2b%.0s' 1 2)']" \
    "$(jq_ "[a for i, a in enumerate(d['spec']['template']['spec']['containers'][0]['command']) if a == '--container-id' or (i and d['spec']['template']['spec']['containers'][0]['command'][i-1] == '--container-id')]")"
check_eq "with the capabilities it needs" "['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE', 'NET_RAW', 'DAC_READ_SEARCH']" \
    "$(jq_ "d['spec']['template']['spec']['containers'][0]['securityContext']['capabilities']['add']")"
check_eq "cleaned up after it finishes" "1" "$(jq_ "d['spec']['ttlSecondsAfterFinished']")"
check_eq "mounting the runtime sockets" "['/run', '/var']" "$(jq_ "[v['hostPath']['path'] for v in d['spec']['template']['spec']['volumes']]")"
check_eq "no readiness probe (its connections would keep an idle agent alive)" "False" \
    "$(jq_ "'readinessProbe' in d['spec']['template']['spec']['containers'][0]")"
check_eq "the agent listens on its pod's loopback (IPv4 and IPv6), a random port" "tcp:localhost:0" "$(tail -1 "$K/record/listen.log")"
check_contains "the session's end deleted the agent Job, with its pods" \
    "jobs/shop/$(jq_ "d['metadata']['name']") propagationPolicy=Background" "$(cat "$K/record/deleted.log")"

cat >"$K/agent.json" <<JSON
{"agent": {"image": "registry.example/mirrord-agent:9", "ttl": 5, "labels": {"team": "shop"},
           "annotations": {"owner": "me"}, "tolerations": [{"key": "gpu", "operator": "Exists"}],
           "service_account": "mirrord", "resources": {"limits": {"memory": "256Mi"}}, "privileged": true}}
JSON
out=$("$MIRRORD" exec -f "$K/agent.json" --target pod/api-7d9f8c-x2v4q/container/app -- curl -sS http://backend/ 2>&1)
check_eq "pod/x/container/y target, agent.* options" "hello from backend; you are 10.77.0.2" "$out"
check_eq "agent.image" "registry.example/mirrord-agent:9" "$(jq_ "d['spec']['template']['spec']['containers'][0]['image']")"
check_eq "agent.ttl" "5" "$(jq_ "d['spec']['ttlSecondsAfterFinished']")"
check_eq "agent.labels" "shop" "$(jq_ "d['metadata']['labels']['team']")"
check_eq "agent.annotations" "me" "$(jq_ "d['spec']['template']['metadata']['annotations']['owner']")"
check_eq "agent.tolerations" "gpu" "$(jq_ "d['spec']['template']['spec']['tolerations'][0]['key']")"
check_eq "agent.service_account" "mirrord" "$(jq_ "d['spec']['template']['spec']['serviceAccountName']")"
check_eq "agent.resources" "256Mi" "$(jq_ "d['spec']['template']['spec']['containers'][0]['resources']['limits']['memory']")"
check_eq "agent.privileged" "True" "$(jq_ "d['spec']['template']['spec']['containers'][0]['securityContext']['privileged']")"

for target in service/api statefulset/db rollout/web rollout/web-ref replicaset/api-7d9f8c cronjob/report job/report-28001; do
    out=$("$MIRRORD" exec --target "$target" -- curl -sS http://backend/ 2>&1)
    check_eq "target $target" "hello from backend; you are 10.77.0.2" "$out"
done

# Which pod and container: the target container must be running and ready, on a pod not being
# deleted; the default-container annotation; Knative's queue-proxy skipped like mesh sidecars.
container_id() { python3 -c 'import sys; print("containerd://" + (sys.argv[1].encode().hex() * 64)[:64])' "$1"; }
target_of() {  # target_of TARGET: the container id the agent was started for
    "$MIRRORD" exec --target "$1" -- true >"$WORK/target.out" 2>&1 || cat "$WORK/target.out" >&2
    tail -1 "$K/record/targets.log"
}
check_eq "kubectl.kubernetes.io/default-container" "--container-id $(container_id annotatedworker)" "$(target_of pod/annotated)"
check_eq "Knative's queue-proxy is skipped" "--container-id $(container_id knative-00001user-container)" "$(target_of pod/knative-00001)"
check_eq "deploy: not a pod being deleted, nor one whose container is not ready" \
    "--container-id $(container_id half-c-readyapp)" "$(target_of deploy/half)"
expect_failure() {  # expect_failure DESCRIPTION TEXT MIRRORD-ARGS...
    local what=$1 text=$2; shift 2
    local t0=$(date +%s)
    out=$("$@" 2>&1); rc=$?
    check_eq "$what: exit status" "1" "$rc"
    check_contains "$what: message" "$text" "$out"
    [ $(( $(date +%s) - t0 )) -lt 20 ] || fail "$what took too long"
}
expect_failure "a deployment whose only pod's container is not ready" "container app of pod/sick-0 is not ready" \
    "$MIRRORD" exec --target deploy/sick -- true
expect_failure "a pod whose container is not ready" "container app of pod/sick-0 is not ready" \
    "$MIRRORD" exec --target pod/sick-0 -- true

# The agent's lifetime is the session's: Ctrl-C and SIGTERM delete it too, while it starts or runs.
cat >"$WORK/signal_after.py" <<'PY'
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(float(sys.argv[2]))
p.send_signal(getattr(signal, sys.argv[1]))
sent = time.time()
try:
    rc = p.wait(timeout=20)
    took = time.time() - sent
    print("exited within 2 s of the signal" if took < 2 else "exited %.1f s after the signal" % took)
except subprocess.TimeoutExpired:
    p.kill()
    print("still running 20 s after the signal")
PY
jobs_deleted() { grep -c "^jobs/$1/" "$K/record/deleted.log" 2>/dev/null; }
before=$(jobs_deleted shop)
out=$(python3 "$WORK/signal_after.py" SIGINT 3 "$MIRRORD" exec --target deploy/api -- sleep 30)
check_eq "Ctrl-C during a session ends it" "exited within 2 s of the signal" "$out"
check_eq "... and deletes its agent Job" "$((before + 1))" "$(jobs_deleted shop)"
before=$(jobs_deleted shop)
out=$("$MIRRORD" diagnose latency -t deploy/api 2>&1)
check_contains "diagnose latency through the port-forward to a cluster agent" "Latency statistics: min=" "$out"
check_eq "... and its agent Job is deleted after" "$((before + 1))" "$(jobs_deleted shop)"
out=$(python3 "$WORK/signal_after.py" SIGINT 3 "$MIRRORD" port-forward -t deploy/api -L "$(free_port):backend:80")
check_eq "port-forward to a cluster target ends on Ctrl-C" "exited within 2 s of the signal" "$out"
check_eq "... and deletes its agent Job" "$((before + 2))" "$(jobs_deleted shop)"
echo '{"agent": {"startup_timeout": 30}}' >"$K/patient.json"
out=$(python3 "$WORK/signal_after.py" SIGTERM 2 "$MIRRORD" exec -f "$K/patient.json" -a slow --target deploy/api -- true)
check_eq "SIGTERM while the agent is starting ends mirrord" "exited within 2 s of the signal" "$out"
check_eq "... and deletes the Job" "1" "$(jobs_deleted slow)"
# Killed with SIGKILL, mirrord cannot clean up: the agent ends itself once its session is gone
# (communication_timeout) and the Job's ttlSecondsAfterFinished removes it.
echo '{"agent": {"communication_timeout": 2, "ttl": 1}}' >"$K/short.json"
"$MIRRORD" exec -f "$K/short.json" --target deploy/api -- sleep 60 >"$WORK/killed.out" 2>&1 &
killed=$!
for _ in $(seq 100); do grep -q "^--container-id" "$K/record/targets.log" && [ "$(wc -l <"$K/record/agents.pid")" -gt "${agents_before:-0}" ] && break; sleep 0.1; done
sleep 2
kill -9 "$killed"
wait "$killed" 2>/dev/null
wait_for_text "$K/record/deleted.log" "by ttlSecondsAfterFinished" 15
check_contains "mirrord killed with SIGKILL: the agent exits by itself and its Job goes after its TTL" \
    "by ttlSecondsAfterFinished" "$(cat "$K/record/deleted.log")"

# The RBAC manifest grants exactly enough: every call of a whole session, checked against it.
out=$(KUBECONFIG=$K/rbac.yaml "$MIRRORD" exec --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "k8s/manifests/rbac.yaml grants what a session needs (Job)" "hello from backend; you are 10.77.0.2" "$out"
out=$(KUBECONFIG=$K/rbac.yaml "$MIRRORD" exec --ephemeral-container --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "... and with an ephemeral agent" "hello from backend; you are 10.77.0.2" "$out"
out=$(KUBECONFIG=$K/rbac.yaml "$MIRRORD" ls 2>&1)
check_contains "... and for mirrord ls" "deployment/api" "$out"
check_eq "nothing was denied" "" "$(cat "$K/record/rbac-denied.log" 2>/dev/null)"

out=$(KUBECONFIG=$K/cert.yaml "$MIRRORD" exec --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "client-certificate authentication" "hello from backend; you are 10.77.0.2" "$out"
out=$(KUBECONFIG=$K/exec.yaml "$MIRRORD" exec --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "exec credential plugin" "hello from backend; you are 10.77.0.2" "$out"
out=$("$MIRRORD" exec --ephemeral-container --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "agent as an ephemeral container" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... targeting the app container" '"targetContainerName": "app"' "$(cat "$K/record/ephemeral.json")"
check_eq "... found by its container id in the shared PID namespace (not PID 1, maybe the pause container)" \
    "--container-id containerd://$(printf '4f1e0c3a9b7d2e6f8a1b3c5d7e9f0a2b%.0s' 1 2)" "$(tail -1 "$K/record/targets.log")"
check_contains "... as root whatever the pod's securityContext says" '"runAsUser": 0' "$(cat "$K/record/ephemeral.json")"
check_contains "... " '"runAsNonRoot": false' "$(cat "$K/record/ephemeral.json")"

# What goes wrong, said clearly, quickly, with a non-zero exit.
expect_failure "missing deployment" 'deployments.apps "nope" not found' "$MIRRORD" exec --target deploy/nope -- true
expect_failure "missing container" "has no container 'sidecar'" "$MIRRORD" exec --target pod/api-7d9f8c-x2v4q/container/sidecar -- true
expect_failure "pod not running" "pod/old-pending is not running (Pending)" "$MIRRORD" exec --target pod/old-pending -- true
expect_failure "image that cannot be pulled" "ImagePullBackOff" "$MIRRORD" exec -i bad-image --target deploy/api -- true
check_contains "... naming the image and how to push one" "the agent image is bad-image: build and push it with scripts/agent-image --push" "$out"
expect_failure "forbidden to create the agent" 'cannot create resource "jobs"' env KUBECONFIG="$K/readonly.yaml" "$MIRRORD" exec --target deploy/api -- true
echo '{"agent": {"startup_timeout": 2}}' >"$K/fast.json"
expect_failure "agent pod refused by policy" "violates PodSecurity" "$MIRRORD" exec -f "$K/fast.json" -a locked --target deploy/api -- true
expect_failure "agent never scheduled" "did not start within 2s" "$MIRRORD" exec -f "$K/fast.json" -a slow --target deploy/api -- true
expect_failure "unknown CA" "certificate verify failed" env KUBECONFIG="$K/noca.yaml" "$MIRRORD" exec --target deploy/api -- true
out=$(KUBECONFIG=$K/noca.yaml "$MIRRORD" exec --accept-invalid-certificates --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "--accept-invalid-certificates" "hello from backend; you are 10.77.0.2" "$out"
out=$(KUBECONFIG=$K/noca.yaml "$MIRRORD" exec -c -t deploy/api curl -sS http://backend/ 2>&1)
check_eq "-c (mirrord's short form)" "hello from backend; you are 10.77.0.2" "$out"
out=$("$MIRRORD" exec -e -l 'warn,mirrord=debug' -t deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "-e (ephemeral) and -l with a RUST_LOG filter, which the agent takes" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... at that level (a warn-level agent says nothing at info)" "info: serving" "$(cat "$(ls -t "$K"/record/*.mirrord-agent-*.log | head -1)")"
expect_failure "no kubeconfig" "no kubeconfig found" env KUBECONFIG="$K/none.yaml" "$MIRRORD" exec --target deploy/api -- true
expect_failure "bad target syntax" "is not <kind>/<name>" "$MIRRORD" exec --target deploy/ -- true
# Kubeconfigs as Teleport and Rancher write them: a certificate that names only tls-server-name, and
# a server URL with a path. A second stand-in serves both.
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube.internal" -keyout "$K/named.key" -out "$K/named.csr" 2>/dev/null
printf 'subjectAltName=DNS:kube.internal\n' >"$K/named.ext"
openssl x509 -req -in "$K/named.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -days 2 -extfile "$K/named.ext" \
    -out "$K/named.crt" 2>/dev/null
PORT2=$(free_port)
mkdir -p "$K/record2"
/usr/bin/python3 "$ROOT/tests/k8s/fake_apiserver.py" --port "$PORT2" --cert "$K/named.crt" --key "$K/named.key" --ca "$K/ca.crt" \
    --pod-pid "$POD_PID" --agent "$AGENT" --record "$K/record2" --prefix /k8s/clusters/c-abc12 >"$K/apiserver2.out" 2>&1 &
BACKGROUND_PIDS+=($!)
on_exit 'xargs -r kill -9 <"$K/record2/agents.pid" 2>/dev/null'
wait_for_text "$K/apiserver2.out" ready 10
named_config() {  # named_config FILE [TLS-SERVER-NAME]
    cat >"$1" <<YAML
apiVersion: v1
kind: Config
current-context: test
contexts: [{name: test, context: {cluster: fake, user: dev, namespace: shop}}]
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$PORT2/k8s/clusters/c-abc12
    certificate-authority-data: $(b64 "$K/ca.crt")
${2:+    tls-server-name: $2}
users: [{name: dev, user: {token: test-token}}]
YAML
}
named_config "$K/named.yaml" kube.internal
out=$(KUBECONFIG=$K/named.yaml "$MIRRORD" exec --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "tls-server-name, and a server URL with a path (REST and the port-forward)" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... every request under the path" "/k8s/clusters/c-abc12/api/v1/namespaces/shop/pods" "$(cat "$K/record2/requests.log")"
check_contains "... the port-forward too" "/k8s/clusters/c-abc12/api/v1/namespaces/shop/pods/mirrord-agent-" \
    "$(grep portforward "$K/record2/requests.log")"
named_config "$K/unnamed.yaml"
out=$(KUBECONFIG=$K/unnamed.yaml "$MIRRORD" ls 2>&1)
check_contains "... without tls-server-name the certificate does not match" "certificate" "$out"

# Through an HTTP CONNECT proxy: the kubeconfig's proxy-url, or HTTPS_PROXY unless NO_PROXY says not.
PROXY_PORT=$(free_port)
python3 "$ROOT/tests/k8s/connect_proxy.py" "$PROXY_PORT" "$K/proxy.log" >"$K/proxy.out" 2>&1 &
BACKGROUND_PIDS+=($!)
wait_for_text "$K/proxy.out" ready 5
kubeconfig "$K/proxied.yaml" "    token: test-token" "    certificate-authority-data: $(b64 "$K/ca.crt")
    proxy-url: http://127.0.0.1:$PROXY_PORT"
out=$(KUBECONFIG=$K/proxied.yaml "$MIRRORD" exec --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "proxy-url: the session goes through the proxy" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... which saw it (REST and the port-forward)" "CONNECT 127.0.0.1:$PORT HTTP/1.1" "$(cat "$K/proxy.log")"
check_eq "... every connection" "yes" "$([ "$(wc -l <"$K/proxy.log")" -ge 3 ] && echo yes || echo "no: $(cat "$K/proxy.log")")"
: >"$K/proxy.log"
out=$(HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT "$MIRRORD" ls 2>&1)
check_contains "HTTPS_PROXY" "deployment/api" "$out"
check_contains "... through the proxy" "CONNECT 127.0.0.1:$PORT" "$(cat "$K/proxy.log")"
: >"$K/proxy.log"
out=$(HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT NO_PROXY=localhost,127.0.0.0/8 "$MIRRORD" ls 2>&1)
check_contains "NO_PROXY" "deployment/api" "$out"
check_eq "... and the proxy saw nothing" "" "$(cat "$K/proxy.log")"

# Exec plugins as client-go runs them (client.authentication.k8s.io/v1): KUBERNETES_EXEC_INFO with
# the cluster (provideClusterInfo), no stdin unless interactive, short-lived tokens renewed before
# they expire and after a 401, the answer's apiVersion checked.
cat >"$K/short-lived.sh" <<'SH'
#!/bin/sh
echo "$KUBERNETES_EXEC_INFO" >"$PLUGIN_DIR/info.json"
[ -t 0 ] && echo tty >"$PLUGIN_DIR/stdin" || echo "not a terminal" >"$PLUGIN_DIR/stdin"
echo call >>"$PLUGIN_DIR/calls"
expires=$(($(date +%s) + 3))
echo "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"exp-$expires\",\"expirationTimestamp\":\"$(date -u -d @$expires +%Y-%m-%dT%H:%M:%SZ)\"}}"
SH
cat >"$K/revoked.sh" <<'SH'
#!/bin/sh
echo call >>"$PLUGIN_DIR/revoked-calls"
token=test-token; [ "$(wc -l <"$PLUGIN_DIR/revoked-calls")" = 1 ] && token=stale-token  # the first one is revoked at once
echo "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"$token\"}}"
SH
echo 'echo "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"test-token\"}}"' >"$K/old.sh"
chmod +x "$K/short-lived.sh" "$K/revoked.sh" "$K/old.sh"
exec_config() {  # exec_config FILE SCRIPT
    kubeconfig "$1" "    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: $2
      interactiveMode: Never
      provideClusterInfo: true"
}
exec_config "$K/short-lived.yaml" "$K/short-lived.sh"
exec_config "$K/revoked.yaml" "$K/revoked.sh"
exec_config "$K/old.yaml" "$K/old.sh"
export PLUGIN_DIR=$K
LP=$(free_port)
KUBECONFIG=$K/short-lived.yaml "$MIRRORD" port-forward -t deploy/api -L "$LP:backend:80" >"$WORK/pf-exec.out" 2>&1 &
PFE=$!
BACKGROUND_PIDS+=($PFE)
wait_for_text "$WORK/pf-exec.out" Forwarding 10
check_eq "exec plugin with a short-lived token" "hello from backend; you are 10.77.0.2" "$(curl -sS -m 5 "http://127.0.0.1:$LP/")"
sleep 4  # past the token's expiry: a new connection needs a new port-forward, with a new token
check_eq "... renewed when it expires (a port-forward opened later)" "hello from backend; you are 10.77.0.2" "$(curl -sS -m 5 "http://127.0.0.1:$LP/")"
check_eq "... by running the plugin again" "yes" "$([ "$(wc -l <"$K/calls")" -ge 2 ] && echo yes || echo "no: $(cat "$K/calls")")"
kill -INT "$PFE"; wait "$PFE" 2>/dev/null
check_eq "... which got no stdin (interactiveMode: Never)" "not a terminal" "$(cat "$K/stdin")"
check_eq "... and the cluster in KUBERNETES_EXEC_INFO (provideClusterInfo)" "https://127.0.0.1:$PORT False True" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["spec"]["cluster"]; print(c["server"], d["spec"]["interactive"], "certificate-authority-data" in c)' "$K/info.json")"
check_contains "a token revoked at once: after the 401 the plugin is asked again" "deployment/api" "$(KUBECONFIG=$K/revoked.yaml "$MIRRORD" ls 2>&1)"
check_eq "... once" "2" "$(wc -l <"$K/revoked-calls")"
check_contains "a plugin answering in another apiVersion is refused" "answered in client.authentication.k8s.io/v1beta1, not the client.authentication.k8s.io/v1" \
    "$(KUBECONFIG=$K/old.yaml "$MIRRORD" ls 2>&1)"

# An exec plugin that hands out short-lived client certificates: a session that outlives one still
# deletes its agent's Job at the end, with a new certificate (the REST client is rebuilt).
cat >"$K/cert-plugin.sh" <<'SH'
#!/bin/sh
echo call >>"$PLUGIN_DIR/cert-calls"
expires=$(($(date +%s) + 3))
d=$(mktemp -d)
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=exp-$expires" -keyout "$d/k" -out "$d/csr" 2>/dev/null
openssl x509 -req -in "$d/csr" -CA "$PLUGIN_DIR/ca.crt" -CAkey "$PLUGIN_DIR/ca.key" -CAcreateserial -days 1 -out "$d/c" 2>/dev/null
python3 -c 'import json, sys, time
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {
    "clientCertificateData": open(sys.argv[1]).read(), "clientKeyData": open(sys.argv[2]).read(),
    "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(sys.argv[3])))}}))' "$d/c" "$d/k" "$expires"
rm -rf "$d"
SH
chmod +x "$K/cert-plugin.sh"
exec_config "$K/cert-plugin.yaml" "$K/cert-plugin.sh"
deleted_jobs() { grep -cE 'DELETE /apis/batch/v1/namespaces/shop/jobs/[^ ]* 200' "$K/record/requests.log"; }
jobs_before=$(deleted_jobs)
out=$(KUBECONFIG=$K/cert-plugin.yaml "$MIRRORD" exec --target deploy/api -- sh -c 'cat /app/config.yaml; sleep 4' 2>&1)
check_contains "exec plugin with short-lived client certificates: the session works" "service: checkout" "$out"
check_not_contains "... and its Job is deleted at the end, past the first certificate's expiry" "Job" "$out"
check_eq "... with a renewed certificate" "yes" "$([ "$(wc -l <"$K/cert-calls")" -ge 2 ] && echo yes || echo "no: $(cat "$K/cert-calls")")"
check_eq "... which the API server accepted" "$((jobs_before + 1))" "$(deleted_jobs)"

# The oidc auth-provider: an expired id-token is renewed with the refresh-token at the issuer.
ISSUER_PORT=$(free_port)
python3 "$ROOT/tests/k8s/oidc_issuer.py" --port "$ISSUER_PORT" --cert "$K/server.crt" --key "$K/server.key" \
    --refresh-token refresh-1 --log "$K/issuer.log" >"$K/issuer.out" 2>&1 &
BACKGROUND_PIDS+=($!)
wait_for_text "$K/issuer.out" ready 5
expired=$(python3 -c 'import base64, json
part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
print(part({"alg": "none"}) + "." + part({"mirrord-test": True, "exp": 1000}) + ".x")')
kubeconfig "$K/oidc.yaml" "    auth-provider:
      name: oidc
      config:
        client-id: mirrord-test
        client-secret: s3cret
        idp-issuer-url: https://127.0.0.1:$ISSUER_PORT
        idp-certificate-authority-data: $(b64 "$K/ca.crt")
        id-token: $expired
        refresh-token: refresh-1"
out=$(KUBECONFIG=$K/oidc.yaml "$MIRRORD" exec --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "auth-provider oidc: an expired id-token renewed at the issuer" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... with the refresh-token and the client's id" '"refresh_token": "refresh-1", "client_id": "mirrord-test"' "$(cat "$K/issuer.log")"

# Two kubeconfig files in two directories, each with paths relative to its own directory.
mkdir -p "$K/split/clusters" "$K/split/users"
cp "$K/ca.crt" "$K/split/clusters/ca.crt"
echo test-token >"$K/split/users/token"
cat >"$K/split/clusters/config" <<YAML
apiVersion: v1
kind: Config
current-context: test
contexts: [{name: test, context: {cluster: fake, user: dev, namespace: shop}}]
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: ca.crt}}]
YAML
cat >"$K/split/users/config" <<YAML
apiVersion: v1
kind: Config
users: [{name: dev, user: {tokenFile: token}}]
YAML
out=$(cd / && KUBECONFIG=$K/split/clusters/config:$K/split/users/config "$MIRRORD" ls 2>&1)
check_contains "kubeconfig files in two directories, relative paths each against its own" "deployment/api" "$out"

# kubectl reads keys left empty (null) as absent: so does mirrord.
cat >"$K/nulls.yaml" <<YAML
apiVersion: v1
kind: Config
preferences: {}
current-context: test
contexts:
- name: test
  context: {cluster: fake, user: dev, namespace: }
clusters:
- name: fake
  cluster: {server: "https://127.0.0.1:$PORT", certificate-authority-data: $(b64 "$K/ca.crt"), proxy-url: }
users:
- name: dev
  user: {token: test-token, client-certificate: , exec: }
YAML
out=$(KUBECONFIG=$K/nulls.yaml "$MIRRORD" ls -n shop 2>&1)
check_contains "a kubeconfig with null values" "deployment/api" "$out"
finish
