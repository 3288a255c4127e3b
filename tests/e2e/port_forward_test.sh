#!/bin/bash
# mirrord port-forward and mirrord dump, with no program: -L makes local connections from the
# target (host names resolved there, each time), -R brings the target's port here (mirrored or
# stolen, with the incoming config's HTTP filter), dump prints what arrives on a port.
source "$(dirname "$0")/lib.sh"
sandbox_up
start_agent
SERVER=$ROOT/tests/programs/named_server.py
from_cluster() { in_svc curl -sS -m 5 "$@" 2>&1; }
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# -L: a cluster name and an address, both reached from the pod; many connections at once.
P1=$(free_port); P2=$(free_port); P3=$(free_port)
"$MIRRORD" port-forward --agent "$AGENT_ADDR" -L "$P1:backend:80" -L "$P2:10.77.0.10:80" -L "$P3:no-such-host.invalid:80" \
    >"$WORK/pf.out" 2>"$WORK/pf.err" &
PF=$!
BACKGROUND_PIDS+=($PF)
wait_for_text "$WORK/pf.out" "no-such-host" 10 || fail "port-forward did not start: $(cat "$WORK/pf.err")"
check_contains "-L: says what it forwards" "Forwarding 127.0.0.1:$P1 -> backend:80 (from the target)" "$(cat "$WORK/pf.out")"
check_eq "-L with a host name resolved in the target" "hello from backend; you are 10.77.0.2" "$(curl -sS -m 5 "http://127.0.0.1:$P1/")"
check_eq "-L with an address" "hello from backend; you are 10.77.0.2" "$(curl -sS -m 5 "http://127.0.0.1:$P2/")"
curls=()
for i in 1 2 3 4 5 6; do curl -sS -m 5 "http://127.0.0.1:$P1/?$i" >"$WORK/parallel.$i" & curls+=($!); done
wait "${curls[@]}"
check_eq "-L: six connections at once" "6" "$(cat "$WORK"/parallel.* | grep -c "hello from backend")"
out=$(curl -sS -m 5 "http://127.0.0.1:$P3/" 2>&1)
check_matches "-L to a name the target cannot resolve: the connection is closed" "curl: \((52|56)\)" "$out"
wait_for_text "$WORK/pf.err" "no-such-host.invalid:80 from the target" 10
check_contains "... and mirrord says why" "no-such-host.invalid:80 from the target" "$(cat "$WORK/pf.err")"
check_eq "... and goes on forwarding" "hello from backend; you are 10.77.0.2" "$(curl -sS -m 5 "http://127.0.0.1:$P1/")"
rc=$(python3 -c '
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:])
time.sleep(0.5)
p.send_signal(signal.SIGINT)
print(p.wait(timeout=10))' "$MIRRORD" port-forward --agent "$AGENT_ADDR" -L "$(free_port):backend:80" 2>/dev/null | tail -1)
check_eq "Ctrl-C ends it cleanly" "0" "$rc"
stop "$PF"

# -R: the pod's port 80 mirrored, then stolen, to a local server.
P4=$(free_port)
python3 "$SERVER" local-copy "$P4" >"$WORK/local-copy.out" 2>"$WORK/local-copy.err" &
BACKGROUND_PIDS+=($!)
wait_for_text "$WORK/local-copy.out" listening 10
"$MIRRORD" port-forward --agent "$AGENT_ADDR" -R "80:$P4" >"$WORK/pfr.out" 2>"$WORK/pfr.err" &
PFR=$!
BACKGROUND_PIDS+=($PFR)
wait_for_text "$WORK/pfr.out" "Forwarding the target's port 80" 10 || fail "-R did not start: $(cat "$WORK/pfr.err")"
check_eq "-R (mirror): the pod's app answers" "hello from the pod's own app" "$(from_cluster http://10.77.0.2/?mirrored)"
wait_for_text "$WORK/local-copy.err" "GET /?mirrored" 10
check_contains "... and the local server gets a copy" "GET /?mirrored" "$(cat "$WORK/local-copy.err") $(cat "$WORK/pfr.err")"
stop "$PFR"
P5=$(free_port)
python3 "$SERVER" local-thief "$P5" >"$WORK/local-thief.out" 2>&1 &
BACKGROUND_PIDS+=($!)
wait_for_text "$WORK/local-thief.out" listening 10
echo '{"feature": {"network": {"incoming": {"http_filter": {"header_filter": "^X-User: me$"}}}}}' >"$WORK/mine.json"
"$MIRRORD" port-forward --agent "$AGENT_ADDR" -f "$WORK/mine.json" --steal -R "80:$P5" >"$WORK/pfs.out" 2>"$WORK/pfs.err" &
PFS=$!
BACKGROUND_PIDS+=($PFS)
wait_for_text "$WORK/pfs.out" "(stolen)" 10 || fail "-R --steal did not start: $(cat "$WORK/pfs.err")"
check_eq "-R --steal with the config's HTTP filter: matching requests come here" "local-thief saw GET /x from 127.0.0.1 user=me" \
    "$(from_cluster -H "X-User: me" http://10.77.0.2/x)"
check_eq "... the rest reach the pod's app" "hello from the pod's own app" "$(from_cluster -H "X-User: you" http://10.77.0.2/)"
stop "$PFS"
for _ in $(seq 50); do [[ "$(from_cluster -H "X-User: me" http://10.77.0.2/)" == *"pod's own app"* ]] && break; sleep 0.1; done
check_eq "when it ends the port goes back to the pod's app" "hello from the pod's own app" "$(from_cluster -H "X-User: me" http://10.77.0.2/)"
out=$("$MIRRORD" port-forward --agent "$AGENT_ADDR" -L "x:backend:80" 2>&1); rc=$?
check_eq "a bad -L: exit status" "2" "$rc"
check_contains "... and why" "is not a port" "$out"
check_contains "neither -L nor -R: usage" "at least one -L or -R" "$("$MIRRORD" port-forward --agent "$AGENT_ADDR" 2>&1)"

# dump: HTTP requests one by one, other traffic byte for byte.
"$MIRRORD" dump --agent "$AGENT_ADDR" -p 80 >"$WORK/dump.out" 2>"$WORK/dump.err" &
DUMP=$!
BACKGROUND_PIDS+=($DUMP)
wait_for_text "$WORK/dump.err" "listening for traffic" 10 || fail "dump did not start: $(cat "$WORK/dump.err")"
check_eq "dump: the pod's app still answers (it refuses POST: 501)" "501" \
    "$(from_cluster -o /dev/null -w '%{http_code}' -X POST --data-binary "some body" http://10.77.0.2/dumped)"
in_svc python3 -c '
import socket
s = socket.create_connection(("10.77.0.2", 80)); s.sendall(b"\x01\x02 not http\n"); s.close()'
wait_for_text "$WORK/dump.out" "closed" 10
out=$(cat "$WORK/dump.out")
check_matches "dump: an HTTP request, with its port and peer" "^## New HTTP request received: Request ID \[[0-9]+:0\] to port 80 from 10.77.0.10:" "$out"
check_contains "... its head" "POST /dumped HTTP/1.1" "$out"
check_contains "... its body" "## Request [" "$out"
check_contains "... " "some body" "$out"
check_matches "dump: a connection that is not HTTP" "^## New TCP connection established: Connection ID [0-9]+ from 10.77.0.10:[0-9]+ to " "$out"
check_matches "... its bytes (in hex, not being text)" "^0102206e6f7420687474700a$" "$out"
check_matches "... and its end" "^## Connection ID [0-9]+ closed$" "$out"
stop "$DUMP"
finish
