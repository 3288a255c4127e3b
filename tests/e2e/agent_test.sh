#!/bin/bash
# The agent, entered into the sandbox pod, reaches what only the pod can reach.
source "$(dirname "$0")/lib.sh"

sandbox_up
start_agent --log-level info
probe() { "$PROBE" "$AGENT_ADDR" "$@" 2>&1; }

check_contains "hostname is the pod's" "hostname $SANDBOX_NAME-pod-7d9f" "$(probe hello)"
check_contains "reads a pod-only file" "service: checkout" "$(probe cat /app/config.yaml)"
check_eq "the file does not exist on the host" "no" "$([ -e /app/config.yaml ] && echo yes || echo no)"
check_contains "absolute symlinks resolve inside the pod" "service: checkout" "$(probe cat /app/config-link.yaml)"
check_contains "the pod's own /etc/resolv.conf" "nameserver 10.77.0.53" "$(probe cat /etc/resolv.conf)"
check_contains "'..' cannot escape the pod's root" "search demo.svc.cluster.local" "$(probe cat /../../../../etc/resolv.conf)"
check_contains "lists a pod directory" "config.yaml" "$(probe ls /app)"
check_contains "lstat sees the symlink" "mode 120777" "$(probe stat /app/config-link.yaml)"
check_contains "missing file is ENOENT" "errno 2" "$(probe cat /app/missing || true)"
check_eq "gets a pod-only env var" "SECRET_TOKEN=pod-only-secret-42" "$(probe env SECRET_TOKEN)"
check_eq "resolves the cluster name via search domains" "10.77.0.10" "$(probe resolve backend)"
check_eq "resolves the fully qualified cluster name" "10.77.0.10" "$(probe resolve backend.demo.svc.cluster.local)"
check_eq "resolves a name from the pod's /etc/hosts" "10.77.0.10" "$(probe resolve database.internal)"
check_contains "unknown name is ENOENT" "errno 2" "$(probe resolve no-such-service || true)"
check_contains "connects to the cluster-only service, from the pod's address" \
    "hello from backend; you are 10.77.0.2" "$(probe http backend 80 /)"
check_eq "a refused connection is refused" "refused" "$(probe refused 10.77.0.10 81)"
host_view=$(curl -s -m 2 http://10.77.0.10/ || true)
check_not_contains "the host itself cannot reach the service" "hello from backend" "$host_view"

# Several clients at once.
pids=()
for i in 1 2 3 4 5; do probe http backend 80 / >"$WORK/concurrent.$i" & pids+=($!); done
wait "${pids[@]}"
for i in 1 2 3 4 5; do check_contains "concurrent client $i" "hello from backend" "$(cat "$WORK/concurrent.$i")"; done

check_contains "agent still serves after the clients left" "hostname" "$(probe hello)"

# The agent exits when its target exits.
kill -9 "$POD_PID"
for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
check_eq "agent exits with its target" "gone" "$(kill -0 "$AGENT_PID" 2>/dev/null && echo alive || echo gone)"
check_contains "and says why" "target (pid $POD_PID) exited" "$(cat "$WORK/agent.err")"
finish
