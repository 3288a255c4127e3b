#!/bin/bash
# feature.network.dns.filter on a "laptop" with its own nameserver and /etc/hosts (a private network
# and mount namespace): names the filter keeps local are answered here, the rest by the pod, for
# glibc, musl, Go and python; connections still go out from the pod either way.
source "$(dirname "$0")/lib.sh"
sandbox_up
start_agent

# The laptop: an address of its own, dnsmasq on 127.0.0.1 that knows three names, and a hosts-file entry.
cat >"$WORK/laptop-resolv.conf" <<'CONF'
nameserver 127.0.0.1
CONF
cat >"$WORK/laptop-hosts" <<'CONF'
127.0.0.1 localhost
127.0.0.44 laptop-hosts.test
CONF
echo '{"feature": {"network": {"dns": {"filter": {"local": ["laptop-db.test", "laptop-alias.test", "laptop-hosts.test"]}}}}}' >"$WORK/local.json"
echo '{"feature": {"network": {"dns": {"filter": {"remote": ["backend"]}}}}}' >"$WORK/remote.json"
echo '{"feature": {"network": {"dns": {"enabled": false, "filter": {"local": ["x"]}}}}}' >"$WORK/off.json"
# An outgoing filter by name: the program resolves "backend" through the pod (10.77.0.10), yet the
# connection stays here, so it goes where this machine resolves the name (127.0.0.43), as mirrord.
echo '{"feature": {"network": {"outgoing": {"filter": {"local": ["backend:8080"]}}}}}' >"$WORK/outgoing-local.json"
mkdir -p "$WORK/laptop-www" && echo "the laptop's own backend" >"$WORK/laptop-www/index.html"

# on_laptop NAME COMMAND...: run COMMAND under mirrord on the laptop; output in $WORK/NAME.
cat >"$WORK/laptop.sh" <<'LAPTOP'
set -u
ip link set lo up
ip link add eth0 type veth peer name eth1  # an address besides loopback, for getaddrinfo's AI_ADDRCONFIG
ip addr add 10.99.0.1/24 dev eth0
ip link set eth0 up
ip link set eth1 up
mount --bind "$WORK/laptop-resolv.conf" /etc/resolv.conf
mount --bind "$WORK/laptop-hosts" /etc/hosts
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --user=root --pid-file= --local=/#/ \
    --address=/laptop-db.test/127.0.0.42 --address=/laptop-alias.test/10.77.0.10 --address=/backend/127.0.0.43 \
    >"$WORK/dnsmasq.log" 2>&1 &
dnsmasq=$!
trap 'kill $dnsmasq' EXIT
for _ in $(seq 50); do getent hosts laptop-db.test >/dev/null && break; sleep 0.1; done
python3 -m http.server 8080 --bind 127.0.0.43 --directory "$WORK/laptop-www" >/dev/null 2>&1 &
web=$!
trap 'kill $dnsmasq $web' EXIT
for _ in $(seq 50); do curl -s http://127.0.0.43:8080/ >/dev/null && break; sleep 0.1; done
run() { local name=$1; shift; timeout 60 "$MIRRORD" exec --agent "$AGENT_ADDR" "$@" >"$WORK/$name" 2>&1; }
L=(-f "$WORK/local.json")
R=(-f "$WORK/remote.json")
run local-glibc "${L[@]}" -- getent ahostsv4 laptop-db.test
run local-glibc-rest "${L[@]}" -- getent ahostsv4 backend
run local-curl "${L[@]}" -- curl -sS -m 10 http://laptop-alias.test/
run local-musl "${L[@]}" -- "$PROGRAMS/musl_client" laptop-alias.test 80 /
run local-go "${L[@]}" -- "$PROGRAMS/go_client" http://laptop-alias.test/ 4
run local-go-rest "${L[@]}" -- "$PROGRAMS/go_client" http://backend/ 1
run local-hosts "${L[@]}" -- python3 -c 'import socket; print(socket.gethostbyname("laptop-hosts.test"), socket.gethostbyname("database.internal"))'
run remote-glibc "${R[@]}" -- getent ahostsv4 backend
run remote-glibc-rest "${R[@]}" -- getent ahostsv4 laptop-db.test
run remote-python "${R[@]}" -- python3 -c 'import socket; print(socket.gethostbyname("backend.demo.svc.cluster.local"), socket.gethostbyname("laptop-db.test"))'
run unfiltered -- getent ahostsv4 laptop-db.test
run off -f "$WORK/off.json" -- getent ahostsv4 laptop-db.test
O=(-f "$WORK/outgoing-local.json")
run outgoing-curl "${O[@]}" -- sh -c 'curl -sS -m 10 http://backend:8080/; curl -sS -m 10 http://backend/'
run outgoing-go "${O[@]}" -- "$PROGRAMS/go_client" http://backend:8080/ 2
run outgoing-python "${O[@]}" -- python3 -c '
import socket, urllib.request
print(socket.gethostbyname("backend"), urllib.request.urlopen("http://backend:8080/", timeout=10).read().decode().strip())'
LAPTOP
WORK=$WORK MIRRORD=$MIRRORD AGENT_ADDR=$AGENT_ADDR PROGRAMS=$PROGRAMS timeout 300 unshare -n -m bash "$WORK/laptop.sh"
result() { cat "$WORK/$1" 2>/dev/null; }

check_contains "local filter: glibc asks this machine's nameserver" "127.0.0.42" "$(result local-glibc)"
check_contains "local filter: other names are the pod's" "10.77.0.10" "$(result local-glibc-rest)"
check_eq "local filter: curl resolves here, connects from the pod" "hello from backend; you are 10.77.0.2" "$(result local-curl)"
check_eq "local filter: static musl" "hello from backend; you are 10.77.0.2" "$(result local-musl)"
check_contains "local filter: static Go resolves here" "resolved laptop-alias.test to [10.77.0.10]" "$(result local-go)"
check_contains "... and connects from the pod" "4/4 ok: hello from backend; you are 10.77.0.2" "$(result local-go)"
check_contains "local filter: Go, other names from the pod" "1/1 ok: hello from backend" "$(result local-go-rest)"
check_eq "local filter: this machine's /etc/hosts for local names, the pod's for the rest" "127.0.0.44 10.77.0.10" "$(result local-hosts)"
check_contains "remote filter: the listed name is the pod's" "10.77.0.10" "$(result remote-glibc)"
check_not_contains "... not this machine's" "127.0.0.43" "$(result remote-glibc)"
check_contains "remote filter: others are answered here" "127.0.0.42" "$(result remote-glibc-rest)"
check_eq "remote filter: search-domain expansions count as the name" "10.77.0.10 127.0.0.42" "$(result remote-python)"
check_not_contains "no filter: the pod does not know the laptop's names" "127.0.0.42" "$(result unfiltered)"
check_contains "with DNS off the filter is ignored, with a warning" "feature.network.dns.filter is ignored" "$(result off)"
check_contains "... and names are this machine's" "127.0.0.42" "$(result off)"
check_eq "outgoing filter.local by name: curl reaches this machine's backend (re-resolved here), the rest the pod's" \
    "the laptop's own backend
hello from backend; you are 10.77.0.2" "$(result outgoing-curl)"
check_contains "... static Go" "2/2 ok: the laptop's own backend" "$(result outgoing-go)"
check_eq "... python, a blocking connect; the name itself is still the pod's" "10.77.0.10 the laptop's own backend" "$(result outgoing-python)"
finish
