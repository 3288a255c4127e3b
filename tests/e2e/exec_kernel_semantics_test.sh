#!/bin/bash
# Syscalls answered by the supervisor behave as the kernel's: connects to an address that drops SYNs
# leave event loops running and honour every runtime's timeout (node, Go, python, Java), Ctrl-C
# ends a program blocked in one, io_uring is refused so runtimes fall back to redirected syscalls,
# files made up for the session are never seen half-written, statfs is the pod's.
# Everything runs on a "laptop" network namespace with no route out.
source "$(dirname "$0")/lib.sh"
sandbox_up
start_agent
# The cluster drops SYNs to 10.77.0.10:82 (a firewall, an overloaded node...).
in_svc nft -f - <<'NFT'
table inet blackhole {
    chain input { type filter hook input priority 0; tcp dport 82 drop; }
}
NFT

cat >"$WORK/node_connect.js" <<'JS'
const net = require('net');
let ticks = 0;
const start = Date.now();
const tick = setInterval(() => ticks++, 100);
const socket = net.connect({host: '10.77.0.10', port: 82, timeout: 2000});
socket.on('timeout', () => {
    console.log(`timeout after ${Math.round((Date.now() - start) / 100) / 10} s, ${ticks} ticks`);
    socket.destroy();
    clearInterval(tick);
});
socket.on('connect', () => console.log('connected?!'));
socket.on('error', e => console.log('error', e.code));
JS
cat >"$WORK/python_connect.py" <<'PY'
import asyncio, select, socket, struct, time
start = time.time()
s = socket.socket()
s.settimeout(1.5)
try:
    s.connect(("10.77.0.10", 82))
    print("connected?!")
except socket.timeout:
    print("settimeout fired after %.1f s" % (time.time() - start))
async def main():
    start = time.time()
    try:
        await asyncio.wait_for(asyncio.open_connection("10.77.0.10", 82), 1.5)
    except asyncio.TimeoutError:
        print("wait_for fired after %.1f s" % (time.time() - start))
    try:
        await asyncio.open_connection("10.77.0.10", 81)
    except OSError as e:
        print("asyncio refused", e.errno)
    reader, writer = await asyncio.open_connection("backend", 80)
    writer.write(b"GET / HTTP/1.0\r\nHost: backend\r\n\r\n")
    print("asyncio got", (await reader.read()).split(b"\r\n\r\n", 1)[1].decode().strip())
asyncio.run(main())
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
start = time.time()
print("SO_SNDTIMEO: connect gives", s.connect_ex(("10.77.0.10", 82)), "after %.1f s" % (time.time() - start))
print("blocking refused:", socket.socket().connect_ex(("10.77.0.10", 81)))
s = socket.socket()
s.setblocking(False)
print("non-blocking:", s.connect_ex(("10.77.0.10", 82)), "then", s.connect_ex(("10.77.0.10", 82)))
print("writable while connecting:", select.select([], [s], [], 0.5)[1] != [])
s = socket.socket()
s.setblocking(False)
s.connect_ex(("10.77.0.10", 81))
select.select([], [s], [], 5)
print("SO_ERROR", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), "then", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
PY
cat >"$WORK/ConnectTimeout.java" <<'JAVA'
import java.net.*;
public class ConnectTimeout {
    public static void main(String[] args) throws Exception {
        long start = System.currentTimeMillis();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])), 2000);
            System.out.println("connected to " + s.getRemoteSocketAddress());
        } catch (SocketTimeoutException e) {
            System.out.printf("timeout after %.1f s%n", (System.currentTimeMillis() - start) / 1000.0);
        } catch (ConnectException e) {
            System.out.println("refused: " + e.getMessage());
        }
    }
}
JAVA
# interrupt_after SECONDS COMMAND...: runs COMMAND, sends it SIGINT as a terminal's Ctrl-C would (to
# the process, with the default disposition a shell's background job would not have), and reports
# its exit status and how long it took after the signal.
cat >"$WORK/interrupt_after.py" <<'PY'
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(float(sys.argv[1]))
sent = time.time()
p.send_signal(signal.SIGINT)
try:
    rc = p.wait(timeout=20)
    print("status %d, %.1f s after SIGINT" % (rc, time.time() - sent))
except subprocess.TimeoutExpired:
    p.kill()
    print("still running 20 s after SIGINT")
PY
echo '{"feature": {"network": {"dns": {"filter": {"local": ["laptop.test"]}}}}}' >"$WORK/dns-filter.json"
echo '{"experimental": {"allow_io_uring": true}}' >"$WORK/io-uring.json"

cat >"$WORK/laptop.sh" <<'LAPTOP'
set -u
ip link set lo up
run() { local name=$1; shift; timeout 120 "$MIRRORD" exec --agent "$AGENT_ADDR" "$@" >"$WORK/$name" 2>&1; }
run node -- node "$WORK/node_connect.js"
run go -- "$PROGRAMS/go_dial" 10.77.0.10:82 2s
run go-refused -- "$PROGRAMS/go_dial" 10.77.0.10:81 2s
run go-ok -- "$PROGRAMS/go_dial" backend:80 2s
run python -- python3 "$WORK/python_connect.py"
run java -- java "$WORK/ConnectTimeout.java" 10.77.0.10 82
run java-ok -- java "$WORK/ConnectTimeout.java" backend 80
# The agent gives up its attempt once the program has (checked every 500 ms).
sleep 1
ip netns exec "$POD_NS" ss -Htn state syn-sent dst 10.77.0.10 >"$WORK/syn-sent"
python3 "$WORK/interrupt_after.py" 1.5 "$MIRRORD" exec --agent "$AGENT_ADDR" -- python3 -c 'import socket; socket.create_connection(("10.77.0.10", 82))' >"$WORK/sigint-python"
python3 "$WORK/interrupt_after.py" 1.5 "$MIRRORD" exec --agent "$AGENT_ADDR" -- curl -sS http://10.77.0.10:82/ >"$WORK/sigint-curl"
python3 "$WORK/interrupt_after.py" 1.5 "$MIRRORD" exec --agent "$AGENT_ADDR" -- "$PROGRAMS/go_dial" 10.77.0.10:82 100s >"$WORK/sigint-go"
run uring -- "$PROGRAMS/uring_cat" /app/config.yaml
run uring-allowed -f "$WORK/io-uring.json" -- "$PROGRAMS/uring_cat" /etc/hostname
run race -- "$PROGRAMS/read_race" 16 1000 /etc/hostname /etc/hosts /proc/sys/kernel/hostname
run race-filter -f "$WORK/dns-filter.json" -- "$PROGRAMS/read_race" 16 1000 /etc/hosts /etc/nsswitch.conf /etc/hostname
run localhost-filter -f "$WORK/dns-filter.json" -- python3 -c '
import socket, threading
failed = []
def lookups():
    for _ in range(100):
        try: socket.getaddrinfo("localhost", 80)
        except OSError as e: failed.append(e)
threads = [threading.Thread(target=lookups) for _ in range(16)]
[t.start() for t in threads]; [t.join() for t in threads]
print(len(failed), "of 1600 failed")'
run statvfs -- python3 -c 'import os; s = os.statvfs("/app/cache"); print(s.f_bsize, s.f_blocks, s.f_bfree)'
run statfs-go -- "$PROGRAMS/go_statfs" /app/cache
run fstatfs -- python3 -c 'import os; fd = os.open("/app/config.yaml", os.O_RDONLY); s = os.fstatvfs(fd); print(s.f_blocks == os.statvfs("/app").f_blocks)'
LAPTOP
WORK=$WORK MIRRORD=$MIRRORD AGENT_ADDR=$AGENT_ADDR PROGRAMS=$PROGRAMS POD_NS="$SANDBOX_NAME-pod" timeout 500 unshare -n bash "$WORK/laptop.sh"
result() { cat "$WORK/$1" 2>/dev/null; }

# "On time": within half a second of the timeout (the suite runs two tests at once on two CPUs).
check_matches "node: the connect timeout fires on time" "timeout after 2(\.[0-4])? s" "$(result node)"
ticks=$(grep -o '[0-9]* ticks' "$WORK/node" | cut -d' ' -f1)
[ "${ticks:-0}" -ge 15 ] && pass "node: the event loop kept ticking ($ticks ticks of 100 ms)" || fail "node: the event loop stalled: $(result node)"
check_matches "Go net.DialTimeout fires on time" "^timeout after 2(\.[0-4])?s$" "$(result go)"
check_contains "Go: a refusal in the pod is a refusal" "connect: connection refused" "$(result go-refused)"
check_contains "Go: a connection that works" "connected to 10.77.0.10:80" "$(result go-ok)"
py=$(result python)
check_matches "python socket.settimeout fires on time" "settimeout fired after (1\.[5-9]|2\.0) s" "$py"
check_matches "python asyncio.wait_for fires on time" "wait_for fired after (1\.[5-9]|2\.0) s" "$py"
check_contains "python asyncio: refused" "asyncio refused 111" "$py"
check_contains "python asyncio: a connection that works" "asyncio got hello from backend; you are 10.77.0.2" "$py"
check_matches "SO_SNDTIMEO: EINPROGRESS after the timeout" "SO_SNDTIMEO: connect gives 115 after 1\.[0-4] s" "$py"
check_contains "a blocking connect gets the pod's refusal" "blocking refused: 111" "$py"
check_contains "a non-blocking connect: EINPROGRESS, then EALREADY" "non-blocking: 115 then 114" "$py"
check_contains "... and not writable while the pod's connect is pending" "writable while connecting: False" "$py"
check_contains "SO_ERROR is the pod's errno, once" "SO_ERROR 111 then 0" "$py"
check_matches "Java's connect timeout fires on time" "^timeout after 2\.[0-4] s$" "$(result java)"
check_contains "Java: a connection that works" "connected to backend/10.77.0.10:80" "$(result java-ok)"
check_eq "the agent's attempts end with the program's" "" "$(result syn-sent)"
for p in python curl go; do
    out=$(result "sigint-$p")
    if [[ "$out" =~ ^status\ (-2|130|2),\ (0\.[0-9]|1\.0)\ s ]]; then pass "Ctrl-C ends $p blocked in a connect at once ($out)"; else fail "Ctrl-C and $p: $out"; fi
done
check_contains "io_uring_setup fails with ENOSYS" "io_uring unavailable (Function not implemented)" "$(result uring)"
check_contains "... and the fallback reads the pod's file" "only the pod has this file" "$(result uring)"
check_contains "experimental.allow_io_uring allows it, with a warning" "io_uring operations are not redirected" "$(result uring-allowed)"
check_contains "... and io_uring is used" "io_uring in use" "$(result uring-allowed)"
check_eq "16 threads reading made-up files never see them empty" "0 empty of 48000" "$(result race)"
check_eq "... nor with a DNS filter (a made-up /etc/hosts)" "0 empty of 48000" "$(result race-filter)"
check_eq "getaddrinfo(localhost) from 16 threads with a DNS filter" "0 of 1600 failed" "$(result localhost-filter)"
pod_statfs=$(stat -f -c '%S %b %f' "/proc/$POD_PID/root/app/cache")
check_eq "os.statvfs of a pod volume is the pod's" "$pod_statfs" "$(result statvfs)"
check_contains "Go syscall.Statfs of a pod volume: the pod's tmpfs" "type=1021994 bsize=4096 blocks=6144" "$(result statfs-go)"
check_eq "fstatvfs of a pod file's descriptor is the pod's" "True" "$(result fstatfs)"
finish
