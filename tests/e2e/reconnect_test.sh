#!/bin/bash
# A session outlives its link to the agent: a TCP --agent link killed in the kernel (ss -K) in the
# middle of a session, while a program reads pod files, resolves cluster names, serves stolen HTTP
# requests and holds a connection open. After the reconnect everything works again, the held
# connection got ECONNRESET, nothing hung, and the user saw one line for the drop and one for the
# return. Then the ways a link does not come back: the agent killed (remote calls fail with EIO
# after --reconnect-timeout) and the agent shutting down (no waiting at all).
source "$(dirname "$0")/lib.sh"
sandbox_up
from_cluster() { in_svc curl -sS -m 5 "$@" 2>&1; }

# The program: a stolen HTTP server, plus a loop that opens a pod file and resolves a name every
# 0.1 s, writing one line per round; and a connection to the backend held open meanwhile.
cat >"$WORK/loop.py" <<'PY'
import errno, os, socket, sys, threading, time
out = open(sys.argv[1], "a", buffering=1)
held = socket.create_connection(("backend", 80), timeout=10)
held.sendall(b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n")
reply = b""
while not reply.endswith(b"\n\n") and b"hello from backend" not in reply:
    chunk = held.recv(4096)
    if not chunk:
        break
    reply += chunk
out.write("held open: %s\n" % (b"hello from backend" in reply))
held.settimeout(None)
def watch():
    try:
        out.write("held: closed %r\n" % held.recv(10))
    except OSError as e:
        out.write("held: %s\n" % errno.errorcode.get(e.errno, e.errno))
threading.Thread(target=watch, daemon=True).start()
n = 0
while not os.path.exists(sys.argv[2]):
    n += 1
    try:
        with open("/app/config.yaml") as f:
            file = "ok" if "service: checkout" in f.read() else "wrong"
    except OSError as e:
        file = errno.errorcode.get(e.errno, str(e.errno))
    try:
        dns = socket.getaddrinfo("backend", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except OSError as e:
        dns = "failed"
    out.write("round %d at %.3f file=%s dns=%s\n" % (n, time.time(), file, dns))
    time.sleep(0.1)
out.write("done\n")
PY

# through_cut LABEL CUT-COMMAND HEAL-COMMAND MIRRORD-EXEC-ARGS...: runs the program under mirrord
# with requests from the cluster going on, cuts the link with CUT-COMMAND, runs HEAL-COMMAND a
# moment later, and checks that everything works again afterwards.
through_cut() {
    local label=$1 cut=$2 heal=$3; shift 3
    local d=$WORK/$label
    mkdir -p "$d"
    "$MIRRORD" exec "$@" --steal \
        -- sh -c "python3 '$ROOT/tests/programs/named_server.py' local 80 & server=\$!; python3 '$WORK/loop.py' '$d/loop.out' '$d/stop'; kill \$server" \
        >"$d/session.out" 2>"$d/session.err" &
    local session=$!
    BACKGROUND_PIDS+=("$session")
    wait_for_text "$d/loop.out" "round 5 " 30 || fail "$label: the session did not start: $(cat "$d/session.err")"
    for _ in $(seq 50); do [[ "$(from_cluster http://10.77.0.2/)" == *"local saw"* ]] && break; sleep 0.1; done
    check_contains "$label: before, stolen requests reach the program" "local saw GET / from 10.77.0.10" "$(from_cluster http://10.77.0.2/)"
    check_eq "$label: before, the held connection is open" "held open: True" "$(grep 'held open' "$d/loop.out")"

    # Requests from the cluster all through the cut, each recorded.
    (for i in $(seq 60); do echo "$(date +%s.%N) $(from_cluster http://10.77.0.2/req$i)"; sleep 0.1; done) >"$d/requests.out" &
    local clients=$!
    BACKGROUND_PIDS+=("$clients")
    sleep 1
    local cut_at back_at
    cut_at=$(date +%s.%N)
    eval "$cut"
    sleep 2
    eval "$heal"
    wait_for_text "$d/session.err" "link to the agent is back" 30 || fail "$label: the link did not come back: $(cat "$d/session.err")"
    back_at=$(date +%s.%N)
    sleep 2
    wait_bounded "$clients" 30
    touch "$d/stop"
    log "$label: $(grep -h 'link to the agent' "$d/session.err")"
    log "$label: cut at $cut_at, back at $back_at"
    check_contains "$label: the user sees the drop" "lost the link to the agent" "$(cat "$d/session.err")"
    check_contains "$label: ... and the return" "the link to the agent is back after" "$(cat "$d/session.err")"
    check_eq "$label: ... one line each" "2" "$(grep -c 'link to the agent' "$d/session.err")"
    check_eq "$label: the connection held open through the lost link was reset" "held: ECONNRESET" "$(grep 'held:' "$d/loop.out")"
    local after
    after=$(awk -v t="$back_at" '$1 == "round" && $4 > t' "$d/loop.out")
    check_eq "$label: after the reconnect, pod files are read in every round" "" "$(grep -v 'file=ok' <<<"$after")"
    check_eq "$label: ... and cluster names resolve in every round" "" "$(grep -v 'dns=10.77.0.10' <<<"$after")"
    check_eq "$label: ... for more than 10 rounds" "yes" "$([ "$(wc -l <<<"$after")" -gt 10 ] && echo yes || echo no)"
    log "$label: rounds that failed while the link was down: $(awk -v t="$cut_at" '$1 == "round" && $4 > t' "$d/loop.out" | grep -vc 'file=ok dns=10.77.0.10')"
    check_eq "$label: the loop never stopped (no call hung)" "yes" "$(wait_for_text "$d/loop.out" done 10 && echo yes || echo no)"
    check_eq "$label: stolen requests reach the program again after the reconnect" "5" "$(tail -5 "$d/requests.out" | grep -c 'local saw GET /req')"
    # A request in flight when the link went down is reset with it (the agent resets the connections
    # of a lost link); every other one is answered by the program, those sent during the drop too.
    local unanswered
    unanswered=$(grep -v 'local saw GET /req' "$d/requests.out" |
        awk -v cut="$cut_at" '!(($0 ~ /curl: \((52|56)\)/) && $1 > cut - 1 && $1 < cut + 1)')
    check_eq "$label: no stolen request went unanswered or to the pod's app (but one in flight at the cut)" "" "$unanswered"
    wait_bounded "$session" 20
    check_eq "$label: the session ends normally" "0" "$?"
}

# tcp_agent NAME [ARGS...]: an agent for the pod on a fresh loopback port, taking this session's
# key; sets AGENT_PID, and AGENT_ARGS for mirrord
session_fp=$("$AGENT" --make-identity "$WORK/session.pem")
tcp_agent() {
    local name=$1 port agent_fp
    shift
    port=$(free_port)
    "$AGENT" --target-pid "$POD_PID" --listen "tcp:127.0.0.1:$port" --client-fingerprint "$session_fp" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" &
    AGENT_PID=$!
    BACKGROUND_PIDS+=("$AGENT_PID")
    wait_for_text "$WORK/$name.out" ready 10 || { log "agent did not start: $(cat "$WORK/$name.err")"; exit 1; }
    agent_fp=$(grep -o 'fingerprint=[0-9a-f]*' "$WORK/$name.out" | cut -d= -f2)
    AGENT_ARGS=(--agent "tcp:127.0.0.1:$port" --agent-identity "$WORK/session.pem" --agent-fingerprint "$agent_fp")
    AGENT_PORT=$port
}

# ---- A TCP --agent link, killed in the kernel mid-session ----
tcp_agent agent --log-level info
through_cut tcp-link "ss -K dst 127.0.0.1 dport = :$AGENT_PORT >/dev/null 2>&1" true "${AGENT_ARGS[@]}"
check_contains "the agent kept the session and resumed it" "resumed its session" "$(cat "$WORK/agent.err")"

# A CLI killed for good: the traffic it stole waits for it 5 s at most, then goes to the pod's app.
"$MIRRORD" exec "${AGENT_ARGS[@]}" --steal -- python3 "$ROOT/tests/programs/named_server.py" gone 80 >"$WORK/gone.out" 2>&1 &
gone=$!
BACKGROUND_PIDS+=("$gone")
for _ in $(seq 50); do [[ "$(from_cluster http://10.77.0.2/)" == *"gone saw"* ]] && break; sleep 0.1; done
kill -9 "$gone"
wait "$gone" 2>/dev/null
sleep 0.5
# within SECONDS START: yes if less than SECONDS passed since START (date +%s.%N)
within() { awk -v limit="$1" -v start="$2" -v now="$(date +%s.%N)" 'BEGIN { print (now - start < limit) ? "yes" : "no: " now - start " s" }'; }
started=$(date +%s.%N)
out=$(from_cluster -m 20 http://10.77.0.2/)
check_contains "a killed CLI: a request it stole goes to the pod's app" "pod's own app" "$out"
check_eq "... after waiting at most about 5 s" "yes" "$(within 7 "$started")"
started=$(date +%s.%N)
out=$(from_cluster http://10.77.0.2/)
check_contains "... and later ones at once" "pod's own app" "$out"
check_eq "... (under a second)" "yes" "$(within 1 "$started")"
kill "$AGENT_PID"

# ---- A Kubernetes session: the port-forward's connection to the API server killed, and the API
# server refusing port-forwards for 2 s (a restart): retried with backoff until it takes them again.
source "$ROOT/tests/e2e/k8s_lib.sh"
through_cut port-forward "touch '$K/record/refuse-port-forward'; ss -K dst 127.0.0.1 dport = :$PORT >/dev/null 2>&1" \
    "rm -f '$K/record/refuse-port-forward'" --target deploy/api --kubeconfig "$K/token.yaml"
check_matches "port-forward: retried with backoff while the API server refused" "back after [2-9]\.[0-9] s \(attempt ([4-9]|[1-9][0-9])\)" \
    "$(cat "$WORK/port-forward/session.err")"
check_eq "port-forward: the API server saw the refused attempts" "yes" \
    "$([ "$(grep -c 'portforward' "$K/record/requests.log")" -ge 4 ] && echo yes || echo no)"

# On a terminal, a progress line says what is going on while it reconnects.
MIRRORD_PROGRESS_AFTER_MS=0 script -qec "$MIRRORD exec --target deploy/api --kubeconfig $K/token.yaml -- sh -c 'sleep 7; head -c 4 /app/config.yaml'" \
    /dev/null >"$WORK/pty.out" 2>&1 &
PTY_PID=$!
BACKGROUND_PIDS+=("$PTY_PID")
sleep 3
touch "$K/record/refuse-port-forward"
ss -K dst 127.0.0.1 dport = ":$PORT" >/dev/null 2>&1
sleep 2.5
rm -f "$K/record/refuse-port-forward"
wait_bounded "$PTY_PID" 20
check_matches "on a terminal, a progress line while reconnecting" "reconnecting to the agent: [0-9.]+ s, attempt [0-9]+ \\(.*503" "$(cat "$WORK/pty.out")"
check_contains "... and the session goes on" "# on" "$(cat "$WORK/pty.out")"

# ---- The agent killed: the link cannot come back within --reconnect-timeout ----
tcp_agent agent2
cat >"$WORK/after_loss.sh" <<'SH'
cat /app/config.yaml >/dev/null && echo "before: read"
while [ ! -e "$1" ]; do sleep 0.1; done
cat /app/config.yaml 2>&1 >/dev/null | sed 's/^/after: /'
SH
# after_loss NAME KILL-COMMAND MIRRORD-EXEC-ARGS...: a session reads a pod file; KILL-COMMAND runs;
# once mirrord says the connection is lost, the session reads again. Sets ELAPSED (kill to message).
after_loss() {
    local name=$1 kill_command=$2 pid started
    shift 2
    rm -f "$WORK/stop"
    "$MIRRORD" exec "$@" -- sh "$WORK/after_loss.sh" "$WORK/stop" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    pid=$!
    BACKGROUND_PIDS+=("$pid")
    wait_for_text "$WORK/$name.out" "before: read" 10 || fail "$name: the session did not start: $(cat "$WORK/$name.err")"
    started=$SECONDS
    eval "$kill_command"
    wait_for_text "$WORK/$name.err" "lost the connection to the agent" 10
    ELAPSED=$((SECONDS - started))
    touch "$WORK/stop"
    wait_bounded "$pid" 20
}
after_loss loss 'kill -9 "$AGENT_PID"' "${AGENT_ARGS[@]}" --reconnect-timeout 2
check_contains "a file read after the link is given up fails with EIO, not a hang" "after: cat: /app/config.yaml: Input/output error" "$(cat "$WORK/loss.out")"
check_contains "the CLI says why" "lost the connection to the agent (not back within 2.0 s" "$(cat "$WORK/loss.err")"

# ---- The agent shutting down says so: nothing to wait for ----
tcp_agent agent3
after_loss end 'kill -TERM "$AGENT_PID"' "${AGENT_ARGS[@]}"
check_contains "an agent that shuts down ends the session at once" "lost the connection to the agent (the agent ended the session)" "$(cat "$WORK/end.err")"
check_eq "... without a reconnect attempt" "0" "$(grep -c 'reconnecting' "$WORK/end.err")"
check_eq "... and quickly" "yes" "$([ "$ELAPSED" -lt 8 ] && echo yes || echo no)"

# ---- A local agent (pid/N) that exits: nothing to reconnect to, remote calls fail at once ----
after_loss local 'pkill -9 -f "mirrord-agent --listen unix:.* --target-pid $POD_PID\$"' --target "pid/$POD_PID"
check_contains "a local agent that exits: files fail with EIO" "after: cat: /app/config.yaml: Input/output error" "$(cat "$WORK/local.out")"
check_contains "... the CLI says why" "lost the connection to the agent (the agent this session started exited)" "$(cat "$WORK/local.err")"
check_eq "... at once, without waiting to reconnect" "yes" "$([ "$ELAPSED" -lt 8 ] && echo yes || echo no)"
finish
