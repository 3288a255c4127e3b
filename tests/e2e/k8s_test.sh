#!/bin/bash
# mirrord exec against Kubernetes targets, through a stand-in API server (tests/k8s/fake_apiserver.py)
# that speaks the real API's shapes and runs each agent Job as a real agent entering the sandbox
# pod: kubeconfig (token, client certificate, exec plugin, CA, insecure), every target kind, the
# agent Job, the ephemeral container, port-forward over WebSocket, `mirrord ls`, and the errors.
source "$(dirname "$0")/lib.sh"
sandbox_up
K=$WORK/k8s
mkdir -p "$K/record"

# A CA, a server certificate for 127.0.0.1, a client certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" -keyout "$K/ca.key" -out "$K/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$K/server.key" -out "$K/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$K/san.ext"
openssl x509 -req -in "$K/server.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -days 2 -extfile "$K/san.ext" -out "$K/server.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=developer" -keyout "$K/client.key" -out "$K/client.csr" 2>/dev/null
openssl x509 -req -in "$K/client.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -days 2 -out "$K/client.crt" 2>/dev/null

PORT=$(free_port)
/usr/bin/python3 "$ROOT/tests/k8s/fake_apiserver.py" --port "$PORT" --cert "$K/server.crt" --key "$K/server.key" --ca "$K/ca.crt" \
    --pod-pid "$POD_PID" --agent "$AGENT" --record "$K/record" --rbac "$ROOT/k8s/manifests/rbac.yaml" \
    >"$K/apiserver.out" 2>"$K/apiserver.err" &
BACKGROUND_PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$K/apiserver.out" 2>/dev/null && break; sleep 0.1; done

b64() { base64 -w0 "$1"; }
kubeconfig() {  # kubeconfig FILE USER-YAML [CLUSTER-EXTRA]
    cat >"$1" <<YAML
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: fake, user: dev, namespace: shop}
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$PORT
${3:-    certificate-authority-data: $(b64 "$K/ca.crt")}
users:
- name: dev
  user:
$2
YAML
}
kubeconfig "$K/token.yaml" "    token: test-token"
kubeconfig "$K/cert.yaml" "    client-certificate-data: $(b64 "$K/client.crt")
    client-key-data: $(b64 "$K/client.key")"
cat >"$K/plugin.sh" <<'SH'
#!/bin/sh
echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"test-token"}}'
SH
chmod +x "$K/plugin.sh"
kubeconfig "$K/exec.yaml" "    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: $K/plugin.sh"
kubeconfig "$K/readonly.yaml" "    token: readonly-token"
kubeconfig "$K/rbac.yaml" "    token: rbac-token"
kubeconfig "$K/noca.yaml" "    token: test-token" "    insecure-skip-tls-verify: false"

export KUBECONFIG=$K/token.yaml
out=$("$MIRRORD" ls 2>&1)
check_contains "mirrord ls lists pods" "pod/api-7d9f8c-x2v4q" "$out"
check_contains "... containers of multi-container pods" "pod/api-7d9f8c-x2v4q/container/app" "$out"
check_contains "... deployments, rollouts, statefulsets, cronjobs, services" "deployment/api
rollout/web
statefulset/db
cronjob/report" "$out"
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

for target in service/api statefulset/db rollout/web replicaset/api-7d9f8c cronjob/report job/report-28001; do
    out=$("$MIRRORD" exec --target "$target" -- curl -sS http://backend/ 2>&1)
    check_eq "target $target" "hello from backend; you are 10.77.0.2" "$out"
done

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

# What goes wrong, said clearly, quickly, with a non-zero exit.
expect_failure() {  # expect_failure DESCRIPTION TEXT MIRRORD-ARGS...
    local what=$1 text=$2; shift 2
    local t0=$(date +%s)
    out=$("$@" 2>&1); rc=$?
    check_eq "$what: exit status" "1" "$rc"
    check_contains "$what: message" "$text" "$out"
    [ $(( $(date +%s) - t0 )) -lt 20 ] || fail "$what took too long"
}
expect_failure "missing deployment" 'deployments.apps "nope" not found' "$MIRRORD" exec --target deploy/nope -- true
expect_failure "missing container" "has no container 'sidecar'" "$MIRRORD" exec --target pod/api-7d9f8c-x2v4q/container/sidecar -- true
expect_failure "pod not running" "is not running and ready" "$MIRRORD" exec --target pod/old-pending -- true
expect_failure "image that cannot be pulled" "ImagePullBackOff" "$MIRRORD" exec -i bad-image --target deploy/api -- true
expect_failure "forbidden to create the agent" 'cannot create resource "jobs"' env KUBECONFIG="$K/readonly.yaml" "$MIRRORD" exec --target deploy/api -- true
echo '{"agent": {"startup_timeout": 2}}' >"$K/fast.json"
expect_failure "agent pod refused by policy" "violates PodSecurity" "$MIRRORD" exec -f "$K/fast.json" -a locked --target deploy/api -- true
expect_failure "agent never scheduled" "did not start within 2s" "$MIRRORD" exec -f "$K/fast.json" -a slow --target deploy/api -- true
expect_failure "unknown CA" "certificate verify failed" env KUBECONFIG="$K/noca.yaml" "$MIRRORD" exec --target deploy/api -- true
out=$(KUBECONFIG=$K/noca.yaml "$MIRRORD" exec --accept-invalid-certificates --target deploy/api -- curl -sS http://backend/ 2>&1)
check_eq "--accept-invalid-certificates" "hello from backend; you are 10.77.0.2" "$out"
expect_failure "no kubeconfig" "no kubeconfig found" env KUBECONFIG="$K/none.yaml" "$MIRRORD" exec --target deploy/api -- true
expect_failure "bad target syntax" "is not <kind>/<name>" "$MIRRORD" exec --target deploy/ -- true
finish
