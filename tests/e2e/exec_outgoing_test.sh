#!/bin/bash
# Real programs under `mirrord exec` reach the cluster-only service by its cluster DNS name, from the
# pod's address: glibc (curl, python3), static musl, and a static Go binary with many goroutines.
source "$(dirname "$0")/lib.sh"
sandbox_up

out=$(mirrord_exec -- curl -sS http://backend/ 2>&1)
check_eq "curl (glibc) reaches the cluster service by its short name" "hello from backend; you are 10.77.0.2" "$out"
out=$(mirrord_exec -- curl -sS http://backend.demo.svc.cluster.local/ 2>&1)
check_eq "curl with the fully qualified name" "hello from backend; you are 10.77.0.2" "$out"
out=$(mirrord_exec -- curl -sS http://database.internal/ 2>&1)
check_eq "a name only the pod's /etc/hosts knows" "hello from backend; you are 10.77.0.2" "$out"
out=$(curl -sS -m 3 http://backend/ 2>&1 || true)
check_not_contains "without mirrord the name does not resolve here" "hello from backend" "$out"

out=$(mirrord_exec -- "$PROGRAMS/musl_client" backend 80 / 2>&1)
check_eq "static musl binary (open(2), sendto DNS)" "hello from backend; you are 10.77.0.2" "$out"

out=$(mirrord_exec -- "$PROGRAMS/go_client" http://backend/ 64 2>&1)
check_contains "static Go binary, 64 goroutines, pure-Go resolver" "64/64 ok: hello from backend; you are 10.77.0.2" "$out"
check_contains "Go sees the pod's hostname" "hostname $SANDBOX_NAME-pod-7d9f" "$out"

out=$(mirrord_exec -- python3 - <<'PY' 2>&1
import socket, urllib.request
print(urllib.request.urlopen("http://backend/").read().decode().strip())
s = socket.create_connection(("backend", 80))
print("peer", s.getpeername())
print("local", s.getsockname()[0])
s.close()
try:
    socket.create_connection(("10.77.0.10", 81), timeout=5)
    print("connected?!")
except OSError as e:
    print("refused", e.errno)
PY
)
check_contains "python urllib" "hello from backend; you are 10.77.0.2" "$out"
check_contains "getpeername reports the remote address" "peer ('10.77.0.10', 80)" "$out"
check_contains "getsockname reports the pod-side address" "local 10.77.0.2" "$out"
check_contains "a connection refused in the pod is refused here" "refused 111" "$out"

# Through a local agent the program's socket is replaced by the one the agent connected in the pod,
# nothing relayed: what was set on it before connect() carries over (options, close-on-exec off),
# and the pod's connection is the program's own.
mirrord_exec -- python3 - >"$WORK/handover.out" 2>&1 <<'PY' &
import os, socket, time
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77)
os.set_inheritable(s.fileno(), True)
s.connect(("backend", 80))
print("options", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0, s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
      s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), os.get_inheritable(s.fileno()), s.gettimeout())
s.sendall(b"GET / HTTP/1.0\r\nHost: backend\r\n\r\n")
reply = b""
while chunk := s.recv(4096): reply += chunk
print("reply", reply.split(b"\r\n\r\n", 1)[1].decode().strip(), flush=True)
time.sleep(3)
PY
handover=$!
wait_for_text "$WORK/handover.out" "reply" 10
check_contains "hand-over: the options set before connect() are kept" "options True 1 77 True None" "$(cat "$WORK/handover.out")"
check_contains "... the program talks to the pod's peer" "reply hello from backend; you are 10.77.0.2" "$(cat "$WORK/handover.out")"
check_contains "... on the pod's connection, which the program itself holds" '"python3"' \
    "$(nsenter -t "$POD_PID" -n ss -tnpH dst 10.77.0.10)"
wait "$handover"
out=$(mirrord_exec --log-level debug -- node -e 'require("http").get("http://backend/", r => r.on("data", d => process.stdout.write(d)))' 2>&1)
check_contains "hand-over: node (libuv, a non-blocking connect)" "hello from backend; you are 10.77.0.2" "$out"
check_contains "... was given the pod's socket" "the program has the target's socket" "$out"

out=$(mirrord_exec -- curl -sS -m 5 http://10.77.0.10:81/ 2>&1 || true)
check_contains "curl sees the refusal too" "Failed to connect to 10.77.0.10 port 81" "$out"

# Non-blocking connect and epoll, many at once: curl's parallel transfers.
out=$(mirrord_exec -- curl -sS --parallel --parallel-max 20 $(for i in $(seq 20); do echo "http://backend/?$i"; done) 2>&1)
check_eq "20 parallel non-blocking transfers" "20" "$(grep -c 'hello from backend; you are 10.77.0.2' <<<"$out")"

# UDP: connected and unconnected sockets; the reply appears to come from the remote address.
in_svc python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.10", 9999))
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(b"echo " + data + b" from " + addr[0].encode(), addr)
' &
BACKGROUND_PIDS+=($!)
sleep 0.5
out=$(mirrord_exec -- python3 - <<'PY' 2>&1
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(5)
u.sendto(b"one", ("10.77.0.10", 9999))
data, addr = u.recvfrom(2048)
print(data.decode(), addr)
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(5)
c.connect(("10.77.0.10", 9999))
c.send(b"two")
print(c.recv(2048).decode(), c.getpeername())
PY
)
check_contains "unconnected UDP: sendto/recvfrom, source rewritten" "echo one from 10.77.0.2 ('10.77.0.10', 9999)" "$out"
check_contains "connected UDP: send/recv/getpeername" "echo two from 10.77.0.2 ('10.77.0.10', 9999)" "$out"

# feature.network.outgoing.unix_streams: a unix socket only the pod's file system has.
nsenter -t "$POD_PID" -m -r --wdns=/ python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
s.bind("/app/app.sock")
s.listen()
while True:
    c, _ = s.accept()
    request = c.recv(4096).split(b"\r\n")[0]
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\npod unix socket got " + request + b"\n")
    c.close()
' &
BACKGROUND_PIDS+=($!)
for _ in $(seq 50); do nsenter -t "$POD_PID" -m -r --wdns=/ test -S /app/app.sock && break; sleep 0.1; done
echo '{"feature": {"network": {"outgoing": {"unix_streams": "^/app/.*\\.sock$"}}}}' >"$WORK/unix.json"
out=$(mirrord_exec -f "$WORK/unix.json" -- curl -sS -m 5 --unix-socket /app/app.sock http://pod/x 2>&1)
check_eq "unix_streams: curl reaches the pod's unix socket" "pod unix socket got GET /x HTTP/1.1" "$out"
out=$(MIRRORD_OUTGOING_REMOTE_UNIX_STREAMS='^/app/.*\.sock$' mirrord_exec -- curl -sS -m 5 --unix-socket /app/app.sock http://pod/y 2>&1)
check_eq "... or MIRRORD_OUTGOING_REMOTE_UNIX_STREAMS" "pod unix socket got GET /y HTTP/1.1" "$out"
out=$(mirrord_exec -f "$WORK/unix.json" -- python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/app/app.sock")
s.sendall(b"PING\r\n")
print(s.recv(4096).decode().split("\r\n\r\n")[1].strip())
try:
    socket.socket(socket.AF_UNIX).connect("/app/missing.sock")
except OSError as e:
    print("missing:", e.errno)
' 2>&1)
check_contains "unix_streams: python too" "pod unix socket got PING" "$out"
check_contains "unix_streams: a socket missing in the pod is missing here" "missing: 2" "$out"
out=$(mirrord_exec -- curl -sS -m 5 --unix-socket /app/app.sock http://pod/x 2>&1 || true)
check_not_contains "without unix_streams the path is this machine's" "pod unix socket" "$out"
finish
