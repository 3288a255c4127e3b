#!/bin/bash
# Incoming traffic: steal, HTTP-filtered steal by several clients at once, mirror, conflicts, and no
# redirect left behind when the agent is killed.
source "$(dirname "$0")/lib.sh"
sandbox_up
start_agent --log-level info
AGENT_LOG=$WORK/agent.err
SERVER=$ROOT/tests/programs/named_server.py
from_cluster() { in_svc curl -sS -m 5 "$@" 2>&1; }   # a client elsewhere in the cluster
from_pod() { nsenter -t "$POD_PID" -n curl -sS -m 5 "$@" 2>&1; }  # a client inside the pod
redirects() { nsenter -t "$POD_PID" -n nft list tables 2>&1 | grep -c mirrord_ || true; }

# session NAME PORT [MIRRORD OPTIONS...]: a local server under mirrord, on the shared agent.
session() {
    local name=$1 port=$2; shift 2
    "$MIRRORD" exec --agent "$AGENT_ADDR" "$@" -- python3 "$SERVER" "$name" "$port" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BACKGROUND_PIDS+=($!)
    eval "${name}_PID=$!"
}
# until TEXT CMD...: retry CMD until its output contains TEXT (10 s)
until_contains() {
    local text=$1; shift
    for _ in $(seq 100); do [[ "$("$@")" == *"$text"* ]] && return 0; sleep 0.1; done
    return 1
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
# streamed FROM-LINE SESSIONS: what the agent relayed as messages (its round-trip lines) for the
# SESSIONS ended since its log had FROM-LINE lines; empty when whole connections were handed over.
streamed() {
    local ended
    for _ in $(seq 50); do
        ended=$(tail -n +$(($1 + 1)) "$AGENT_LOG" | grep "round trips")
        [ "$(grep -c . <<<"$ended")" -ge "$2" ] && break
        sleep 0.1
    done
    grep -o "streamed.*" <<<"$ended"
}

# Steal everything on port 80 (to a program listening on 0.0.0.0: the agent listens for IPv4 apart,
# so IPv4 peers' connections are handed to it whole, as node's are below).
log_lines=$(wc -l <"$AGENT_LOG")
session thief 80 --steal
until_contains "thief saw" from_cluster http://10.77.0.2/ && pass "steal: a cluster client reaches the local program" || fail "steal did not start: $(cat "$WORK/thief.err")"
out=$(from_cluster http://10.77.0.2/orders?id=1 -H "X-User: zed")
check_eq "the local program sees the request and the real peer address" "thief saw GET /orders?id=1 from 10.77.0.10 user=zed" "$out"
check_contains "clients inside the pod are stolen too" "thief saw GET / from 127.0.0.1" "$(from_pod http://127.0.0.1/)"
check_contains "... over IPv6 too, relayed to the IPv4 listener" "thief saw GET / from 127.0.0.1" "$(from_pod "http://[::1]/")"
check_eq "the redirect is in place" "1" "$(redirects)"
session rival 80 --steal
wait_for_text "$WORK/rival.err" "already stolen" 15
check_contains "a second unfiltered steal of the port is refused, clearly" "port 80 is already stolen by another mirrord session" "$(cat "$WORK/rival.err")"
stop "$rival_PID"
stop "$thief_PID"
check_matches "... the IPv4 listener was handed every IPv4 connection whole: only the IPv6 one was relayed" \
    "^streamed Data [0-9]+, Eof 1$" "$(streamed "$log_lines" 2)"

# Through a local agent, a whole stolen connection is the target's socket itself, handed to the
# program by its accept() when the families match (node listens on [::], as the agent does): node
# accepts without asking for the address, then asks getpeername/getsockname. Nothing is relayed.
echo 'require("http").createServer((q, r) => r.end(`node saw ${q.url} from ${q.socket.remoteAddress} at ${q.socket.localAddress}:${q.socket.localPort}\n`)).listen(80);' >"$WORK/who.js"
log_lines=$(wc -l <"$AGENT_LOG")
"$MIRRORD" exec --agent "$AGENT_ADDR" --steal -- node "$WORK/who.js" >"$WORK/node.out" 2>"$WORK/node.err" &
node_pid=$!
BACKGROUND_PIDS+=("$node_pid")
until_contains "node saw" from_cluster http://10.77.0.2/ || fail "node did not get the stolen traffic: $(cat "$WORK/node.err")"
check_eq "handed over: node sees the real peer and the address it was reached at" \
    "node saw /x from ::ffff:10.77.0.10 at ::ffff:10.77.0.2:80" "$(from_cluster http://10.77.0.2/x)"
check_eq "... keep-alive: two requests on the one connection" "node saw /1 node saw /2" \
    "$(from_cluster http://10.77.0.2/1 http://10.77.0.2/2 | cut -d' ' -f1-3 | xargs)"
answered=$(for i in $(seq 20); do from_cluster -o /dev/null -w "%{http_code} " "http://10.77.0.2/n$i"; done)
check_eq "... every one of 20 connections in a row (the program's accept() may come before the hand-over's knock completes)" \
    "$(printf '200 %.0s' $(seq 20))" "$answered"
check_contains "... the program holds the connection in the target's network namespace" '"node"' \
    "$(in_svc python3 -c 'import socket, subprocess, sys; s = socket.create_connection(("10.77.0.2", 80)); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); s.recv(4096); sys.stdout.write(subprocess.run(["nsenter", "-t", sys.argv[1], "-n", "ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout)' "$POD_PID")"
stop "$node_pid"
check_eq "... and the agent relayed none of it" "" "$(streamed "$log_lines" 1)"
until_contains "pod's own app" from_cluster http://10.77.0.2/ && pass "when the session ends, the pod's app gets its traffic back" || fail "traffic not restored"

# A program that closes its stolen listener gives the port back at once, while it runs on.
cat >"$WORK/closer.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen()
c, _ = s.accept()
c.recv(4096)
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\ncloser\n")
c.close()
s.close()
print("closed", flush=True)
time.sleep(30)
PY
"$MIRRORD" exec --agent "$AGENT_ADDR" --steal -- python3 "$WORK/closer.py" >"$WORK/closer.out" 2>"$WORK/closer.err" &
closer_PID=$!
BACKGROUND_PIDS+=($closer_PID)
until_contains "closer" from_cluster http://10.77.0.2/ && pass "a stolen port reaches the local listener" || fail "closer: $(cat "$WORK/closer.err")"
until_contains "pod's own app" from_cluster http://10.77.0.2/ && pass "closing the listener gives the port back to the pod's app, the program still running" || fail "still stolen after close: $(from_cluster http://10.77.0.2/)"
kill -0 "$closer_PID" 2>/dev/null && pass "... (it is)" || fail "the program ended early: $(cat "$WORK/closer.err")"
check_not_contains "a delivery refused by the closed listener is not reported as an error" "does not accept" "$(cat "$WORK/closer.err")"
stop "$closer_PID"

# Two sessions with different header filters at once.
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"header_filter": "^X-User: alice$"}}}}}' >"$WORK/alice.json"
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"header_filter": "^X-User: bob$"}}}}}' >"$WORK/bob.json"
session alice 80 -f "$WORK/alice.json" --events "$WORK/alice.events"
session bob 80 -f "$WORK/bob.json"
until_contains "alice saw" from_cluster -H "X-User: alice" http://10.77.0.2/ && pass "filter: alice's session is up" || fail "alice: $(cat "$WORK/alice.err")"
until_contains "bob saw" from_cluster -H "X-User: bob" http://10.77.0.2/ && pass "filter: bob's session is up" || fail "bob: $(cat "$WORK/bob.err")"
check_eq "alice's requests go to alice's program" "alice saw GET /a from 10.77.0.10 user=alice" "$(from_cluster -H "X-User: alice" http://10.77.0.2/a)"
check_eq "bob's requests go to bob's program" "bob saw GET /b from 10.77.0.10 user=bob" "$(from_cluster -H "X-User: bob" http://10.77.0.2/b)"
check_eq "everyone else's go to the pod's app" "hello from the pod's own app" "$(from_cluster -H "X-User: carol" http://10.77.0.2/)"
out=$(from_cluster -H "X-User: alice" http://10.77.0.2/1 --next http://10.77.0.2/?2 --next -H "X-User: bob" http://10.77.0.2/3 --next -H "X-User: alice" http://10.77.0.2/4)
check_eq "one keep-alive connection, requests routed one by one, in order" "alice saw GET /1 from 10.77.0.10 user=alice
hello from the pod's own app
bob saw GET /3 from 10.77.0.10 user=bob
alice saw GET /4 from 10.77.0.10 user=alice" "$out"
before=$(grep -c "alice: connection" "$WORK/alice.err")
from_cluster -H "X-User: alice" http://10.77.0.2/k1 --next -H "X-User: alice" http://10.77.0.2/k2 --next -H "X-User: alice" http://10.77.0.2/k3 >/dev/null
check_eq "... the requests of one kept-alive connection reach the program on one connection of its own" "1" \
    "$(( $(grep -c "alice: connection" "$WORK/alice.err") - before ))"
# A local agent is given connections to the program and writes the matching requests into them
# itself: none comes through the supervisor as a message.
check_eq "... through connections the local agent was given, not as messages" "yes 0" \
    "$(grep -q "stolen requests' connections" "$WORK/alice.events" && echo yes) $(grep -c '"stolen requests"' "$WORK/alice.events")"
out=$(from_cluster -H "X-User: alice" -H "Transfer-Encoding: chunked" --data-binary "chunked-body" http://10.77.0.2/post)
check_eq "a chunked POST arrives whole" "alice got chunked-body" "$out"
out=$(from_cluster -X POST -H "X-User: carol" --data-binary "x" http://10.77.0.2/ -o /dev/null -w '%{http_code}')
check_eq "an unmatched POST reaches the pod's app (which refuses it: 501)" "501" "$out"
session eve 80 --steal
wait_for_text "$WORK/eve.err" "already stolen" 15
check_contains "an unfiltered steal over filtered ones is refused" "already stolen" "$(cat "$WORK/eve.err")"
stop "$eve_PID"; stop "$alice_PID"; stop "$bob_PID"

# A program that closes a kept connection while idle: the next request goes on a new one.
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/alice.json" -- python3 "$SERVER" brief 80 0.3 >/dev/null 2>"$WORK/brief.err" &
brief_PID=$!
BACKGROUND_PIDS+=($brief_PID)
until_contains "brief saw" from_cluster -H "X-User: alice" http://10.77.0.2/ || fail "brief: $(cat "$WORK/brief.err")"
out=$(in_svc python3 -c '
import http.client, time
c = http.client.HTTPConnection("10.77.0.2", 80, timeout=5)  # one connection, kept alive
for path in ("/a", "/b"):
    c.request("GET", path, headers={"X-User": "alice"})
    print(c.getresponse().read().decode().strip())
    time.sleep(1)')
check_eq "... a program that closes idle connections still gets every request" "brief saw GET /a from 10.77.0.10 user=alice
brief saw GET /b from 10.77.0.10 user=alice" "$out"
stop "$brief_PID"

# A steal flushes the port's connections that bypass the redirect (mirrord's flush_connections),
# never those already redirected: a second filtered steal comes while a stolen connection is open.
nsenter -t "$POD_PID" -n python3 "$SERVER" podkeep 8082 >/dev/null 2>&1 &
BACKGROUND_PIDS+=($!)
cat >"$WORK/held.py" <<'PY'
import os, socket, sys, time
def answer(s):
    reply = b""
    while b"\n" not in reply.partition(b"\r\n\r\n")[2]:
        more = s.recv(4096)
        if not more: return "closed"
        reply += more
    return reply.partition(b"\r\n\r\n")[2].decode().strip()
def ask(s, path="/"):
    try:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nX-User: alice\r\n\r\n")
        return answer(s)
    except OSError as e:
        return type(e).__name__
before = socket.create_connection(("10.77.0.2", 8082))
print("before a steal:", ask(before), flush=True)
while not os.path.exists(sys.argv[1] + "/first.up"): time.sleep(0.05)
stolen = socket.create_connection(("10.77.0.2", 8082))
stolen.settimeout(10)
print("stolen, answered after another steal:", ask(stolen, "/later"), flush=True)
print("the one from before:", ask(before), flush=True)
PY
# The first thief answers /later once the second steal has flushed the port: its answer is the
# first packet of the stolen connection after the flush.
cat >"$WORK/later.py" <<'PY'
import http.server, os, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/later": open(sys.argv[1] + "/later.asked", "w").close()
        while self.path == "/later" and not os.path.exists(sys.argv[1] + "/second.up"): time.sleep(0.05)
        body = f"first saw {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 8082), Handler).serve_forever()
PY
until_contains "podkeep saw" from_cluster http://10.77.0.2:8082/ || fail "the pod's keep-alive app did not start"
in_svc python3 "$WORK/held.py" "$WORK" >"$WORK/held.out" 2>&1 &
held_PID=$!
BACKGROUND_PIDS+=($held_PID)
wait_for_text "$WORK/held.out" "before a steal:" 5
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"header_filter": "^X-User: alice$", "ports": [8082]}}}}}' >"$WORK/first.json"
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"header_filter": "^X-User: bob$", "ports": [8082]}}}}}' >"$WORK/second.json"
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/first.json" -- python3 "$WORK/later.py" "$WORK" >"$WORK/first.out" 2>"$WORK/first.err" &
first_PID=$!
BACKGROUND_PIDS+=($first_PID)
until_contains "first saw" from_cluster -H "X-User: alice" http://10.77.0.2:8082/ || fail "first: $(cat "$WORK/first.err")"
touch "$WORK/first.up"
for _ in $(seq 50); do [ -e "$WORK/later.asked" ] && break; sleep 0.1; done
session second 8082 -f "$WORK/second.json"
until_contains "second saw" from_cluster -H "X-User: bob" http://10.77.0.2:8082/ || fail "second: $(cat "$WORK/second.err")"
sleep 0.5  # the flush runs beside the agent's event loop, not waited for
touch "$WORK/second.up"
wait_bounded "$held_PID" 15
check_eq "a steal cuts the port's connections from before it, not those already stolen" \
"before a steal: podkeep saw GET / from 10.77.0.10 user=alice
stolen, answered after another steal: first saw /later
the one from before: ConnectionResetError" "$(cat "$WORK/held.out")"
stop "$first_PID"; stop "$second_PID"

# Mirror (the default): the pod's app answers; the local program gets a copy.
session mirror 80
sleep 1.5
for _ in $(seq 50); do from_cluster "http://10.77.0.2/?probe" >/dev/null; grep -q "GET /?probe" "$WORK/mirror.err" && break; sleep 0.2; done
out=$(from_cluster -H "X-User: mia" "http://10.77.0.2/?copy")
check_eq "mirror: the pod's app still answers" "hello from the pod's own app" "$out"
wait_for_text "$WORK/mirror.err" "GET /?copy" 5
check_contains "mirror: the local program saw a copy, from the real peer" "mirror: 10.77.0.10 \"GET /?copy HTTP/1.1\" 200" "$(cat "$WORK/mirror.err")"
stop "$mirror_PID"

# Mirror request by request (as mirrord): a local server that closes after each response (HTTP/1.0,
# like Werkzeug) still sees every request of a kept-alive connection; and http_filter picks which.
nsenter -t "$POD_PID" -n python3 "$SERVER" podapp 8081 >/dev/null 2>&1 &
BACKGROUND_PIDS+=($!)
mkdir -p "$WORK/www-mirror" && echo "local copy" >"$WORK/www-mirror/index.html"
"$MIRRORD" exec --agent "$AGENT_ADDR" -- python3 -m http.server 8081 --directory "$WORK/www-mirror" >/dev/null 2>"$WORK/mirror10.err" &
mirror10_PID=$!
BACKGROUND_PIDS+=($mirror10_PID)
for _ in $(seq 50); do from_cluster "http://10.77.0.2:8081/?probe" >/dev/null; grep -q "GET /?probe" "$WORK/mirror10.err" && break; sleep 0.2; done
out=$(from_cluster http://10.77.0.2:8081/?k1 --next http://10.77.0.2:8081/?k2 --next http://10.77.0.2:8081/?k3)
check_eq "mirror, HTTP/1.1 keep-alive: the pod's app answers every request" "/?k1 /?k2 /?k3" \
    "$(grep -o 'podapp saw GET /?k[0-9]' <<<"$out" | cut -c16- | tr '\n' ' ' | sed 's/ $//')"
wait_for_text "$WORK/mirror10.err" "GET /?k3" 5
check_eq "... and a local server that closes after each response gets a copy of each" "/?k1 /?k2 /?k3" \
    "$(grep -o 'GET /?k[0-9]' "$WORK/mirror10.err" | cut -c5- | tr '\n' ' ' | sed 's/ $//')"
check_contains "... the pod's app keeps the connection: it sees the real peer" "podapp saw GET /?k1 from 10.77.0.10" "$out"
check_not_contains "... and the port is not redirected" "redirect" "$(nsenter -t "$POD_PID" -n nft list ruleset 2>&1)"
check_contains "... a client in the pod (lo) is mirrored too" "podapp saw GET /?lo" "$(from_pod http://127.0.0.1:8081/?lo)"
wait_for_text "$WORK/mirror10.err" "GET /?lo" 5 && pass "... and its copy arrives" || fail "no copy of the pod's own client: $(cat "$WORK/mirror10.err")"
head -c 200000 /dev/zero | tr '\0' 'x' >"$WORK/big.body"
from_cluster -X POST --data-binary "@$WORK/big.body" -o /dev/null http://10.77.0.2:8081/?big
wait_for_text "$WORK/mirror10.err" "POST /?big" 5 && pass "... a 200 kB request, in many segments, is copied whole" || fail "no copy of the large POST: $(tail -3 "$WORK/mirror10.err")"
stop "$mirror10_PID"
echo '{"feature": {"network": {"incoming": {"mode": "mirror", "http_filter": {"header_filter": "^X-User: mia$", "ports": [8081]}}}}}' >"$WORK/mirror-filter.json"
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/mirror-filter.json" -- python3 -m http.server 8081 --directory "$WORK/www-mirror" >/dev/null 2>"$WORK/mirror11.err" &
mirror11_PID=$!
BACKGROUND_PIDS+=($mirror11_PID)
for _ in $(seq 50); do from_cluster -H "X-User: mia" "http://10.77.0.2:8081/?probe" >/dev/null; grep -q "GET /?probe" "$WORK/mirror11.err" && break; sleep 0.2; done
out=$(from_cluster -H "X-User: mia" http://10.77.0.2:8081/?m1 --next -H "X-User: bob" http://10.77.0.2:8081/?b1 --next -H "X-User: mia" http://10.77.0.2:8081/?m2)
check_eq "mirror with http_filter: the pod's app answers all" "3" "$(grep -c "podapp saw" <<<"$out")"
wait_for_text "$WORK/mirror11.err" "GET /?m2" 5
sleep 0.3
check_eq "... the local program gets copies of the matching requests only" "/?m1 /?m2" \
    "$(grep -o 'GET /?[mb][0-9]' "$WORK/mirror11.err" | cut -c5- | tr '\n' ' ' | sed 's/ $//')"
stop "$mirror11_PID"

# port_mapping: the program listens on 9090 and stands for the pod's port 80.
echo '{"feature": {"network": {"incoming": {"mode": "steal", "port_mapping": [[9090, 80]]}}}}' >"$WORK/map.json"
session mapped 9090 -f "$WORK/map.json"
until_contains "mapped saw" from_cluster http://10.77.0.2/ && pass "port_mapping: local 9090 serves the pod's port 80" || fail "port_mapping: $(cat "$WORK/mapped.err")"
stop "$mapped_PID"

# The port is taken on this machine: the program listens on another one and still gets the traffic.
python3 -c 'import socket, time; s = socket.socket(); s.bind(("0.0.0.0", 9191)); s.listen(); time.sleep(300)' &
BACKGROUND_PIDS+=($!)
echo '{"feature": {"network": {"incoming": {"mode": "steal", "port_mapping": [[9191, 80]]}}}}' >"$WORK/taken.json"
session taken 9191 -f "$WORK/taken.json"
until_contains "taken saw" from_cluster http://10.77.0.2/ && pass "a port taken here: the program listens elsewhere and still gets the pod's traffic" || fail "taken port: $(cat "$WORK/taken.err")"
stop "$taken_PID"

# HTTP/2 and gRPC: streams filtered one by one; trailers (gRPC's status) come back.
GRPC=$ROOT/tests/programs/grpc_echo.py
mkdir -p "$WORK/pod-h2" "$WORK/local-h2"
echo "pod h2 app" >"$WORK/pod-h2/index.html"
echo "local h2 app" >"$WORK/local-h2/index.html"
cp "$WORK/pod-h2/index.html" "$WORK/pod-h2/theirs"; cp "$WORK/local-h2/index.html" "$WORK/local-h2/mine"
nsenter -t "$POD_PID" -n nghttpd --no-tls -d "$WORK/pod-h2" 8080 >/dev/null 2>&1 &
BACKGROUND_PIDS+=($!)
nsenter -t "$POD_PID" -n /usr/bin/python3 "$GRPC" serve pod-grpc 9090 >/dev/null 2>&1 &
BACKGROUND_PIDS+=($!)
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"any_of": [{"header": "^x-user: alice$"}, {"path": "^/mine"}], "ports": [8080, 9090]}}}}}' >"$WORK/h2.json"
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/h2.json" -- nghttpd --no-tls -d "$WORK/local-h2" --trailer "grpc-status: 0" 8080 >/dev/null 2>"$WORK/h2.err" &
h2_PID=$!
BACKGROUND_PIDS+=($h2_PID)
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/h2.json" -- /usr/bin/python3 "$GRPC" serve local-grpc 9090 >/dev/null 2>"$WORK/grpc.err" &
grpc_PID=$!
BACKGROUND_PIDS+=($grpc_PID)
h2() { from_cluster --http2-prior-knowledge "$@"; }
until_contains "local h2 app" h2 -H "x-user: alice" http://10.77.0.2:8080/index.html && pass "HTTP/2: a matching stream reaches the local program" || fail "h2: $(cat "$WORK/h2.err")"
check_eq "HTTP/2: other streams reach the pod's app" "pod h2 app" "$(h2 http://10.77.0.2:8080/index.html)"
# nghttp sends its requests as concurrent streams on one connection (curl 7.88 cannot reuse an h2c
# connection: curl bug #10634) and prints the bodies as they come.
out=$(in_svc nghttp http://10.77.0.2:8080/mine http://10.77.0.2:8080/theirs http://10.77.0.2:8080/mine?2 \
      http://10.77.0.2:8080/theirs?2 2>&1 | sort)
check_eq "HTTP/2: one connection, streams routed one by one" "local h2 app
local h2 app
pod h2 app
pod h2 app" "$out"
out=$(in_svc nghttp -v -H "x-user: alice" http://10.77.0.2:8080/index.html 2>&1)
check_contains "HTTP/2: trailers come back from the local program" "grpc-status: 0" "$out"
grpc_call() { in_svc /usr/bin/python3 "$GRPC" call 10.77.0.2:9090 "$@" 2>&1; }
until_contains "local-grpc" grpc_call alice hello && pass "gRPC: a call with matching metadata reaches the local server" || fail "grpc: $(cat "$WORK/grpc.err")"
check_eq "gRPC: other calls reach the pod's server" "pod-grpc: hi" "$(grpc_call bob hi)"
check_eq "gRPC: the answer of the local server" "local-grpc: hi" "$(grpc_call alice hi)"
check_eq "gRPC: calls one after the other on one connection, routed one by one" "local-grpc: 1
pod-grpc: 2
local-grpc: 3" "$(grpc_call alice 1 bob 2 alice 3)"
stop "$h2_PID"; stop "$grpc_PID"

# Filtered steal of HTTP/2 (h2c) on a port whose pod app speaks only HTTP/1.1: the matching streams
# still reach the local program; the others get 502 on the same connection, which stays up.
echo '{"feature": {"network": {"incoming": {"mode": "steal", "http_filter": {"path_filter": "^/mine"}}}}}' >"$WORK/h2-80.json"
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/h2-80.json" -- nghttpd --no-tls -d "$WORK/local-h2" 80 >/dev/null 2>"$WORK/h2-80.err" &
h2_80_PID=$!
BACKGROUND_PIDS+=($h2_80_PID)
until_contains "local h2 app" h2 http://10.77.0.2/mine && pass "h2c, HTTP/1.1-only pod app: a matching stream reaches the local program" \
    || fail "h2c on port 80: $(h2 http://10.77.0.2/mine) $(cat "$WORK/h2-80.err")"
check_eq "... an unmatched stream gets 502" "502" "$(h2 -o /dev/null -w '%{http_code}' http://10.77.0.2/theirs)"
out=$(in_svc nghttp -v http://10.77.0.2/mine http://10.77.0.2/theirs http://10.77.0.2/mine?again 2>&1 | grep -c -E ':status: (200|502)')
check_eq "... three streams on one connection all answered" "3" "$out"
stop "$h2_80_PID"

# The agent killed outright: its guard removes the redirect, and the pod's app is reachable again.
kill -9 "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null
for _ in $(seq 50); do [ "$(redirects)" = 0 ] && break; sleep 0.1; done
check_eq "agent SIGKILL leaves no redirect rule" "0" "$(redirects)"
check_eq "and the pod's app answers again" "hello from the pod's own app" "$(from_cluster http://10.77.0.2/)"
finish
