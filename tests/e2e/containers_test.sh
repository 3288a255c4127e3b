#!/bin/bash
# Containers: the agent image (Dockerfile.agent, built with podman) serving the sandbox pod, a
# podman container as a local target (container/NAME), and the agent finding a container's process
# by its id, as it does on a Kubernetes node.
source "$(dirname "$0")/lib.sh"
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
TAG=mirrord-ptrace-agent:e2e-$$
NAME=mrd-target-$$
podman_cleanup() {
    "${PODMAN[@]}" rm -f "$NAME" "$NAME-agent" >/dev/null 2>&1
    "${PODMAN[@]}" rmi -f "$TAG" >/dev/null 2>&1
}
on_exit podman_cleanup
sandbox_up

out=$("$ROOT/scripts/agent-image" "$TAG" 2>&1)
check_eq "the agent image builds (FROM scratch)" "$TAG" "$out"
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG")
[ "$SANITIZED" = yes ] ||  # a sanitized agent and its runtime are several times bigger
    check_eq "and is small (< 20 MB)" "yes" "$([ "$size" -lt 20000000 ] && echo yes || echo no)"
check_matches "it runs" "^mirrord-agent [0-9.]+ \(build .*; protocol [0-9]+\)$" "$("${PODMAN[@]}" run --rm "${LIMITS[@]}" "$TAG" --version 2>&1)"

# The image's agent, as a Kubernetes Job runs it (host PID namespace, privileged), serving the pod.
# On TCP it takes only the session that holds the key whose fingerprint it was given.
port=$(free_port)
session_fp=$("$AGENT" --make-identity "$WORK/session.pem")
"${PODMAN[@]}" run -d --name "$NAME-agent" "${LIMITS[@]}" --pid host --network host --privileged "$TAG" \
    --target-pid "$POD_PID" --listen "tcp:127.0.0.1:$port" --client-fingerprint "$session_fp" --idle-timeout 60 >/dev/null
for _ in $(seq 100); do "${PODMAN[@]}" logs "$NAME-agent" 2>&1 | grep -q ready && break; sleep 0.1; done
agent_fp=$("${PODMAN[@]}" logs "$NAME-agent" 2>&1 | grep -o 'fingerprint=[0-9a-f]*' | cut -d= -f2)
out=$("$MIRRORD" exec --agent "tcp:127.0.0.1:$port" -- true 2>&1); rc=$?
check_contains "a TCP agent without the session's identity: refused, saying what is missing" "needs --agent-fingerprint" "$out"
"$AGENT" --make-identity "$WORK/other.pem" >/dev/null
out=$("$MIRRORD" exec --agent "tcp:127.0.0.1:$port" --agent-identity "$WORK/other.pem" --agent-fingerprint "$agent_fp" -- true 2>&1)
check_contains "... with another key: refused by the agent" "error" "$out"
out=$("$MIRRORD" exec --agent "tcp:127.0.0.1:$port" --agent-identity "$WORK/session.pem" --agent-fingerprint "$(printf 'a%.0s' $(seq 64))" -- true 2>&1)
check_contains "... an agent that is not the announced one: refused by mirrord" "is not the one this session started" "$out"
out=$("$MIRRORD" exec --agent "tcp:127.0.0.1:$port" --agent-identity "$WORK/session.pem" --agent-fingerprint "$agent_fp" \
    -- sh -c 'curl -sS http://backend/; cat /app/config.yaml | head -2' 2>&1)
check_contains "the containerised agent serves the pod: network" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... and files" "service: checkout" "$out"
"${PODMAN[@]}" rm -f "$NAME-agent" >/dev/null

# A podman container as the target.
"${PODMAN[@]}" run -d --name "$NAME" "${LIMITS[@]}" --network none --hostname shop-api-1 --env SHOP_MODE=canary "$TAG" \
    --listen unix:/tmp/idle.sock --idle-timeout 0 >/dev/null
mkdir -p "$WORK/data" && echo "hello from the container" >"$WORK/data/h.txt"
"${PODMAN[@]}" cp "$WORK/data" "$NAME:/data"
out=$("$MIRRORD" exec --target "container/$NAME" -- sh -c 'cat /data/h.txt; hostname; echo "$SHOP_MODE"' 2>&1)
check_eq "container/NAME: the container's files, hostname and env" "hello from the container
shop-api-1
canary" "$out"
out=$("$MIRRORD" exec --target container/no-such-container -- true 2>&1); rc=$?
check_eq "a missing container fails" "1" "$rc"
check_contains "... saying so" "no running podman or docker container named 'no-such-container'" "$out"
out=$("$MIRRORD" exec --target "container/x'; touch $WORK/injected; '" -- true 2>&1); rc=$?
check_eq "a container name is never a shell command" "no" "$([ -e "$WORK/injected" ] && echo yes || echo no)"
check_contains "... just a name that does not exist" "no running podman or docker container named" "$out"

# The agent finds the container by its id (cgroup), as in a Job with hostPID.
id=$("${PODMAN[@]}" inspect --format '{{.Id}}' "$NAME")
"$AGENT" --container-id "containerd://$id" --listen "unix:$WORK/ci.sock" --idle-timeout 30 >"$WORK/ci.out" 2>&1 &
BACKGROUND_PIDS+=($!)
wait_for_text "$WORK/ci.out" ready 5
out=$("$MIRRORD" exec --agent "unix:$WORK/ci.sock" -- sh -c 'cat /data/h.txt; hostname' 2>&1)
check_eq "--container-id finds the container's process" "hello from the container
shop-api-1" "$out"
finish
