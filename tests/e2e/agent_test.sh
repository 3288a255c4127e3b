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
# Paths that try to leave the pod's root: each stays inside (the host's own files are never read).
echo "the host's own secret" >"/tmp/mrd-host-secret-$SANDBOX_NAME"
on_exit 'rm -f "/tmp/mrd-host-secret-$SANDBOX_NAME"'
pod_root=/proc/$POD_PID/root
ln -sfn / "$pod_root/app/to-root" 2>/dev/null
ln -sfn ../../../../../../tmp "$pod_root/app/up-and-out" 2>/dev/null
ln -sfn /proc/self/root/tmp "$pod_root/app/via-proc" 2>/dev/null
for path in "/app/to-root/tmp/mrd-host-secret-$SANDBOX_NAME" "/app/up-and-out/mrd-host-secret-$SANDBOX_NAME" \
            "/../../tmp/mrd-host-secret-$SANDBOX_NAME" "/proc/self/root/tmp/mrd-host-secret-$SANDBOX_NAME" \
            "/app/via-proc/mrd-host-secret-$SANDBOX_NAME" "/proc/1/root/tmp/mrd-host-secret-$SANDBOX_NAME"; do
    check_not_contains "no escape from the pod's root: $path" "host's own secret" "$(probe cat "$path")"
done
check_contains "... while a symlink to / is the pod's /" "service: checkout" "$(probe cat /app/to-root/app/config.yaml)"
# What the agent keeps of its privileges once inside: no CAP_SYS_ADMIN, no new privileges.
status=$(cat "/proc/$AGENT_PID/status")
check_contains "the agent runs with no_new_privs" "NoNewPrivs:	1" "$status"
caps=$(grep CapEff <<<"$status" | awk '{print $2}')
check_eq "... and only NET_ADMIN, SYS_PTRACE, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, CHOWN" "000000000008100f" "$caps"
check_eq "... also in its bounding set" "000000000008100f" "$(grep CapBnd <<<"$status" | awk '{print $2}')"
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
# What a session cost: its round trips by request, when it ends (log level info).
"$MIRRORD" exec --agent "$AGENT_ADDR" -- sh -c "cat /app/config.yaml; cat /app/config.yaml; stat /app >/dev/null" >"$WORK/counted.out" 2>&1
counted="round trips \(.*FileOpen [0-9]+.*FileStat [0-9]+.*EnvGet 1"
for _ in $(seq 30); do grep -Eq "$counted" "$WORK/agent.err" && break; sleep 0.1; done
check_matches "the agent counts each session's round trips, by request" "$counted" "$(cat "$WORK/agent.err")"

kill -9 "$POD_PID"
for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
check_eq "agent exits with its target" "gone" "$(kill -0 "$AGENT_PID" 2>/dev/null && echo alive || echo gone)"
check_contains "and says why" "target (pid $POD_PID) exited" "$(cat "$WORK/agent.err")"
finish
