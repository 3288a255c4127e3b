# The stand-in API server (tests/k8s/fake_apiserver.py) for the Kubernetes tests: certificates, the
# server (its agents enter the sandbox pod), and kubeconfigs. Source after lib.sh and sandbox_up;
# sets K (work dir), PORT, and KUBECONFIG-ready files $K/token.yaml, cert.yaml, exec.yaml,
# readonly.yaml, rbac.yaml, noca.yaml. FAKE_APISERVER_ARGS: more options for the server (--bulk-pods N).
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
    --pod-pid "$POD_PID" --agent "$AGENT" --record "$K/record" --rbac "$ROOT/k8s/manifests/rbac.yaml" ${FAKE_APISERVER_ARGS:-} \
    >"$K/apiserver.out" 2>"$K/apiserver.err" &
BACKGROUND_PIDS+=($!)
wait_for_text "$K/apiserver.out" ready 10
# Agents the server started go with it, whatever happens to the test.
on_exit 'xargs -r kill -9 <"$K/record/agents.pid" 2>/dev/null'
# A failed check may be the stand-in's doing (a traceback): show what it said.
on_exit '[ "$FAILURES" -gt 0 ] && log "the stand-in API server said: $(tail -30 "$K/apiserver.err")"'

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
