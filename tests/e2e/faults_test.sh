#!/bin/bash
# Faults, injected where they hurt (MIRRORD_FAULT, wire/fault_injection.hpp): the agent killed with
# each kind of request in flight; frames garbled or cut short in both directions; the local copies'
# disk full; the CLI killed while the agent redirects its traffic; the target exiting mid-session.
# Each time the program gets an errno or EOF (or its call succeeds after a reconnect), nothing
# hangs, nothing is left behind (no rule, no process, no half-written pod file) and mirrord's
# message says what happened.
source "$(dirname "$0")/lib.sh"
sandbox_up --big-file 8
from_cluster() { in_svc curl -sS -m 5 "$@" 2>&1; }
pod_nft() { nsenter -t "$POD_PID" -n nft list ruleset 2>&1; }

# fault_agent FAULT [ARGS...]: a fresh agent for the pod on a unix socket with MIRRORD_FAULT=FAULT;
# sets AGENT_PID and LINK (mirrord's options for it)
n_agent=0
fault_agent() {
    local fault=$1
    shift
    n_agent=$((n_agent + 1))
    AGENT_NAME=agent$n_agent MIRRORD_FAULT=$fault start_agent --log-level info "$@"
    AGENT_LOG=$WORK/agent$n_agent.err
    LINK=(--agent "$AGENT_ADDR")
}

# run_bounded NAME SECONDS MIRRORD-EXEC-ARGS... -- PROGRAM...: mirrord exec, output in $WORK/NAME.out
# and .err; RC its status (124: it had to be killed)
run_bounded() {
    local name=$1 seconds=$2
    shift 2
    "$MIRRORD" exec "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    BACKGROUND_PIDS+=("$pid")
    wait_bounded "$pid" "$seconds"
    RC=$?
}

agent_gone() { # the agent and its guard are gone
    for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$AGENT_PID" 2>/dev/null; then echo "still running"; else echo gone; fi
}

# ---- The agent killed with a request in flight: the call fails with an errno, at once ----
GIVE_UP=(--reconnect-timeout 1)
# killed_at KIND NAME [MIRRORD OPTIONS] -- PROGRAM...: the agent dies on receiving KIND while PROGRAM runs
killed_at() {
    local kind=$1 name=$2
    shift 2
    fault_agent "kill-on-receive:$kind"
    run_bounded "$name" 20 "${LINK[@]}" "${GIVE_UP[@]}" "$@"
    check_eq "$kind in flight: the program ends (no hang)" "yes" "$([ "$RC" != 124 ] && echo yes || echo no)"
    check_matches "$kind in flight: mirrord says the agent is lost" "lost the (link|connection) to the agent" "$(cat "$WORK/$name.err")"
    check_eq "$kind in flight: the agent is gone" "gone" "$(agent_gone)"
}

killed_at FileOpen open -- cat /app/config.yaml
check_contains "a cold open fails with EIO" "cat: /app/config.yaml: Input/output error" "$(cat "$WORK/open.out" "$WORK/open.err")"

killed_at FileRead fetch -- sh -c 'cat /app/big.bin | wc -c'
check_contains "a file whose fetch is cut fails with EIO" "cat: /app/big.bin: Input/output error" "$(cat "$WORK/fetch.out" "$WORK/fetch.err")"
check_eq "... and the program saw no byte of a half-fetched copy" "0" "$(head -1 "$WORK/fetch.out")"

killed_at TcpConnect connect -- curl -sS -m 10 http://backend/
check_contains "a remote connect fails (ENETUNREACH)" "curl: (7)" "$(cat "$WORK/connect.out" "$WORK/connect.err")"

killed_at UdpConnect dns -- python3 -c '
import socket
try:
    socket.getaddrinfo("backend", 80)
    print("resolved")
except socket.gaierror as e:
    print("lookup failed:", e)'
check_contains "a name lookup fails (no hang)" "lookup failed" "$(cat "$WORK/dns.out")"

# Write-back: the new version is written unnamed beside the old one, so an agent killed mid-write
# leaves the pod's file as it was and no temporary file.
before=$(in_pod cat /app/data/record-1.txt)
echo '{"feature": {"fs": "write"}}' >"$WORK/write.json"
killed_at FileWrite writeback -f "$WORK/write.json" -- python3 -c '
import os
try:
    with open("/app/data/record-1.txt", "r+") as f:
        f.write("new version " * 100000)
        f.flush()
        os.fsync(f.fileno())
    print("written")
except OSError as e:
    print("error:", e.strerror)'
check_contains "a write-back cut short fails fsync with EIO" "error: Input/output error" "$(cat "$WORK/writeback.out")"
check_contains "... mirrord says which file" "writing /app/data/record-1.txt in the target" "$(cat "$WORK/writeback.err")"
check_eq "... the pod's file is the old version, whole" "$before" "$(in_pod cat /app/data/record-1.txt)"
check_eq "... and nothing else is left in its directory" "nested record-1.txt record-2.txt record-3.txt" "$(in_pod ls -A /app/data | sort | xargs)"

# Incoming: the agent dies while a stolen request is on its way to the program (filtered: a whole
# stolen connection's socket is handed over by a local agent, not relayed; a filtered one's
# requests go through a connection to the program that the agent is given). The client sees its
# connection end; the redirect goes with the agent and the pod's app answers again.
fault_agent "kill-on-receive:ProgramConnected"
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"header_filter": "^Host: "}}}}}' >"$WORK/every-request.json"
"$MIRRORD" exec "${LINK[@]}" "${GIVE_UP[@]}" -f "$WORK/every-request.json" -- python3 "$ROOT/tests/programs/named_server.py" local 80 \
    >"$WORK/steal.out" 2>"$WORK/steal.err" &
steal=$!
BACKGROUND_PIDS+=("$steal")
wait_for_text "$AGENT_LOG" "port 80: steal" 5
started=$SECONDS
reply=$(from_cluster http://10.77.0.2/stolen)
check_eq "incoming data in flight: the client's request ends, not hangs" "yes" "$([ $((SECONDS - started)) -lt 5 ] && echo yes || echo no)"
check_not_contains "... it got no reply from the program" "local saw" "$reply"
check_eq "... the agent is gone" "gone" "$(agent_gone)"
for _ in $(seq 50); do [[ "$(pod_nft)" != *mirrord* ]] && break; sleep 0.1; done
check_not_contains "... and its redirect with it" "mirrord" "$(pod_nft)"
check_contains "... the pod's app answers again" "hello from the pod's own app" "$(from_cluster http://10.77.0.2/index.html)"
wait_for_text "$WORK/steal.err" "lost the connection to the agent" 10
kill "$steal"
wait_bounded "$steal" 10 >/dev/null
check_contains "... mirrord says the agent is lost" "lost the connection to the agent" "$(cat "$WORK/steal.err")"

# ---- Frames garbled or cut short, both ways: the link is dropped, said, and resumed ----
STAY=(--reconnect-timeout 10)
# garbled NAME FAULT-SIDE FAULT PROGRAM...: FAULT-SIDE is agent or cli
garbled() {
    local name=$1 side=$2 fault=$3
    shift 3
    if [ "$side" = agent ]; then
        fault_agent "$fault"
        run_bounded "$name" 30 "${LINK[@]}" "${STAY[@]}" -- "$@"
    else
        fault_agent ""
        MIRRORD_FAULT=$fault run_bounded "$name" 30 "${LINK[@]}" "${STAY[@]}" -- "$@"
    fi
    check_eq "$name: the program succeeds after the reconnect" "0" "$RC"
    check_contains "$name: mirrord says the link was lost, and why" "lost the link to the agent (" "$(cat "$WORK/$name.err")"
    check_contains "$name: ... and that it is back" "the link to the agent is back" "$(cat "$WORK/$name.err")"
    check_contains "$name: the agent kept the session" "resumed its session" "$(cat "$AGENT_LOG")"
}
garbled agent-garbles agent corrupt-send:FileOpened cat /app/config.yaml
check_contains "agent-garbles: the file is read" "service: checkout" "$(cat "$WORK/agent-garbles.out")"
check_contains "agent-garbles: the CLI could not read the agent's message" "could not read a message (malformed message" "$(cat "$WORK/agent-garbles.err")"
check_contains "agent-garbles: the agent heard why" "the other end closed the link: it could not read a message from this end" "$(cat "$AGENT_LOG")"

garbled cli-garbles cli corrupt-send:FileStat stat -c %s /app/config.yaml
check_matches "cli-garbles: the stat is answered" "^[0-9]+$" "$(cat "$WORK/cli-garbles.out")"
check_contains "cli-garbles: the CLI hears that the agent could not read it" "the other end closed the link: it could not read a message from this end (malformed message" "$(cat "$WORK/cli-garbles.err")"
check_contains "cli-garbles: the agent says so too" "could not read a message (malformed message" "$(cat "$AGENT_LOG")"

garbled agent-cuts agent truncate-send:FileData sh -c 'cat /app/big.bin | wc -c'
check_eq "agent-cuts: the whole file arrives" "$((8 * 1024 * 1024))" "$(cat "$WORK/agent-cuts.out")"
check_contains "agent-cuts: the CLI saw a message cut short" "the link closed in the middle of a message" "$(cat "$WORK/agent-cuts.err")"

garbled cli-cuts cli truncate-send:FileStat stat -c %s /app/data/record-2.txt
check_eq "cli-cuts: the stat is answered" "9" "$(cat "$WORK/cli-cuts.out")"
check_contains "cli-cuts: the agent saw a message cut short" "the link closed in the middle of a message" "$(cat "$AGENT_LOG")"

# ---- The local copies' disk full: ENOSPC for that file, said; other files still work ----
mkdir -p "$WORK/small"
mount -t tmpfs -o size=2m tmpfs "$WORK/small"
on_exit "umount '$WORK/small' 2>/dev/null"
fault_agent ""
TMPDIR=$WORK/small run_bounded full 30 "${LINK[@]}" -- sh -c 'wc -c < /app/big.bin; cat /app/config.yaml | head -1'
check_contains "disk full: the large file fails with ENOSPC" "No space left on device" "$(cat "$WORK/full.out" "$WORK/full.err")"
check_contains "disk full: mirrord says which copy could not be written" "writing the local copy of /app/big.bin" "$(grep -i 'space' "$WORK/full.err")"
check_contains "disk full: a small file is still read" "only the pod has this file" "$(cat "$WORK/full.out")"
check_eq "disk full: no partial copy is left" "" "$(find "$WORK/small" -name '*.mirrord-partial')"

# ---- The CLI killed while the agent redirects its traffic: the redirect goes with the session ----
fault_agent ""
"$MIRRORD" exec "${LINK[@]}" --reconnect-timeout 2 --steal -- python3 "$ROOT/tests/programs/named_server.py" gone 80 >/dev/null 2>&1 &
gone=$!
BACKGROUND_PIDS+=("$gone")
for _ in $(seq 50); do [[ "$(from_cluster http://10.77.0.2/)" == *"gone saw"* ]] && break; sleep 0.1; done
check_contains "CLI killed: before, the agent redirects port 80" "dport 80" "$(pod_nft)"
kill -9 "$gone"
wait "$gone" 2>/dev/null
# The agent keeps a session whose link dropped for the reconnect budget the CLI asked (plus a margin).
for _ in $(seq 250); do [[ "$(pod_nft)" != *"dport 80"* ]] && break; sleep 0.1; done
check_not_contains "CLI killed: once its session is given up, no redirect is left" "dport 80" "$(pod_nft)"
check_contains "... the pod's app answers" "hello from the pod's own app" "$(from_cluster http://10.77.0.2/index.html)"
check_eq "... no program of the session is left" "" "$(pgrep -f 'named_server.py gone')"

# ---- The target exiting mid-session: the agent ends the session, the program's calls fail ----
fault_agent ""
cat >"$WORK/target_exit.sh" <<'SH'
cat /app/config.yaml >/dev/null && echo "before: read"
while [ ! -e "$1" ]; do sleep 0.1; done
cat /app/data/record-3.txt 2>&1 >/dev/null | sed 's/^/after: /'
SH
"$MIRRORD" exec "${LINK[@]}" -- sh "$WORK/target_exit.sh" "$WORK/target_gone" >"$WORK/target.out" 2>"$WORK/target.err" &
session=$!
BACKGROUND_PIDS+=("$session")
wait_for_text "$WORK/target.out" "before: read" 10
kill -9 "$POD_PID"
wait_for_text "$WORK/target.err" "lost the connection" 10
touch "$WORK/target_gone"
wait_bounded "$session" 20
check_contains "target exited: a later file read fails with EIO" "after: cat: /app/data/record-3.txt: Input/output error" "$(cat "$WORK/target.out")"
check_contains "target exited: mirrord says why" "lost the connection to the agent (the agent ended the session)" "$(cat "$WORK/target.err")"
check_contains "target exited: the agent says its target exited" "target" "$(grep -i 'exit' "$AGENT_LOG")"
check_eq "target exited: the agent is gone" "gone" "$(agent_gone)"
finish
