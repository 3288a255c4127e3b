#!/bin/bash
# The pod's files through mirrord exec: read (default) mode, write mode, patterns, a 100 MB file.
source "$(dirname "$0")/lib.sh"
sandbox_up --big-file 100
POD_FILES=/run/mirrord-sandbox/$SANDBOX_NAME/app  # the pod's /app, as the host sees it

check_eq "the pod's files are not on this machine" "no" "$([ -e /app ] && echo yes || echo no)"
out=$(mirrord_exec -- cat /app/config.yaml 2>&1)
check_contains "cat reads a pod-only file" "service: checkout" "$out"
out=$(mirrord_exec -- cat /app/config-link.yaml 2>&1)
check_contains "through an absolute symlink inside the pod" "service: checkout" "$out"
out=$(mirrord_exec -- ls /app 2>&1)
check_eq "ls lists a pod directory" "$(in_pod ls /app)" "$out"
out=$(mirrord_exec -- ls -la /app/data 2>&1)
check_not_contains "ls -la: no errors, no unknown entries" "?" "$out"
check_contains "ls -la shows sizes from the pod" "9 " "$out"
out=$(mirrord_exec -- stat -c '%i %s %Y %a %F' /app/config.yaml /app/config-link.yaml /app/data 2>&1)
check_eq "stat is exact (inode, size, mtime, mode, type)" "$(in_pod stat -c '%i %s %Y %a %F' /app/config.yaml /app/config-link.yaml /app/data)" "$out"
out=$(mirrord_exec -- find /app -name '*.txt' 2>&1 | sort)
check_eq "find walks the pod's tree" "$(in_pod find /app -name '*.txt' | sort)" "$out"
out=$(mirrord_exec -- sh -c 'cd /app/data/nested && pwd && cat deeper/leaf.txt ../record-2.txt && ls' 2>&1)
check_eq "chdir into a pod directory; relative paths and getcwd" "/app/data/nested
deep
record 2
deeper" "$out"
out=$(mirrord_exec -- python3 -c '
import os, json
print(open("/app/config.yaml").read().splitlines()[1])
print(sorted(os.listdir("/app/data")))
print(os.path.getsize("/app/data/record-1.txt"), os.path.isdir("/app/data/nested"), os.path.exists("/app/missing"))
print([f for _, _, fs in os.walk("/app/data") for f in fs if f.endswith(".txt")].__len__())' 2>&1)
check_eq "python3 reads, lists, stats and walks" "service: checkout
['nested', 'record-1.txt', 'record-2.txt', 'record-3.txt']
9 True False
4" "$out"
out=$(mirrord_exec -- "$PROGRAMS/musl_cat" /app/data/record-3.txt 2>&1)
check_eq "static musl binary (open(2))" "record 3" "$out"
out=$(mirrord_exec -- "$PROGRAMS/go_files" read /app/data/nested/deeper/leaf.txt 2>&1)
check_eq "static Go: os.ReadFile" "deep" "$out"
out=$(mirrord_exec -- "$PROGRAMS/go_files" walk /app/data 2>&1)
check_eq "static Go: filepath.Walk" "/app/data d--------- 4096
/app/data/nested d--------- 4096
/app/data/nested/deeper d--------- 4096
/app/data/nested/deeper/leaf.txt ---------- 5
/app/data/record-1.txt ---------- 9
/app/data/record-2.txt ---------- 9
/app/data/record-3.txt ---------- 9" "$out"
out=$(mirrord_exec -- "$PROGRAMS/go_files" readdir /app 2>&1)
check_contains "static Go: os.ReadDir" "data true" "$out"
out=$(mirrord_exec -- cat /app/missing 2>&1)
check_contains "a missing pod file is ENOENT" "No such file or directory" "$out"
out=$(mirrord_exec -- cat /etc/os-release 2>&1)
check_eq "system paths stay local" "$(cat /etc/os-release)" "$out"

# A changed pod file is fetched again; an unchanged one is not.
echo "changed" >"$POD_FILES/data/record-1.txt"
out=$(mirrord_exec -- sh -c 'cat /app/data/record-1.txt; echo v2 > /tmp/v2; cat /app/data/record-1.txt' 2>&1)
check_eq "reads see the pod's current content" "changed
changed" "$out"

# 100 MB, read whole and checked: served by range (it is above MIRRORD_FS_BY_RANGE_MB), and copied whole.
want=$(sha256sum "$POD_FILES/big.bin" | cut -d' ' -f1)
out=$(mirrord_exec -- sha256sum /app/big.bin 2>&1 | cut -d' ' -f1)
check_eq "a 100 MB pod file reads correctly (sha256sum)" "$want" "$out"
out=$(mirrord_exec -- "$PROGRAMS/go_files" sha256 /app/big.bin 2>&1)
check_eq "and from Go" "$want" "$out"
out=$(MIRRORD_FS_BY_RANGE_MB=0 mirrord_exec -- sha256sum /app/big.bin 2>&1 | cut -d' ' -f1)
check_eq "and copied whole first (MIRRORD_FS_BY_RANGE_MB=0)" "$want" "$out"
out=$(MIRRORD_FS_BY_RANGE_MB=lots mirrord_exec -- true 2>&1)
check_eq "a bad MIRRORD_FS_BY_RANGE_MB: one line, exit 1" "1 1" "$(wc -l <<<"$out") $(MIRRORD_FS_BY_RANGE_MB=lots mirrord_exec -- true >/dev/null 2>&1; echo $?)"
log "$out"

# Read mode never changes the pod: writes go to this machine.
before=$(cd "$POD_FILES" && find . -type f | sort | xargs sha256sum)
out=$(mirrord_exec -- sh -c 'echo x > /app/new.txt; echo y >> /app/config.yaml; rm -f /app/data/record-2.txt; mkdir /app/d' 2>&1)
after=$(cd "$POD_FILES" && find . -type f | sort | xargs sha256sum)
check_eq "read mode leaves the pod untouched" "$before" "$after"
check_eq "... and nothing appeared on this machine" "no" "$([ -e /app ] && echo yes || echo no)"

# Write mode: changes land in the pod, not here.
W=(-f "$WORK/write.json")
echo '{"feature": {"fs": "write"}}' >"$WORK/write.json"
out=$(mirrord_exec "${W[@]}" -- sh -c 'echo created > /app/new.txt; echo more >> /app/new.txt; mkdir /app/newdir; echo in-dir > /app/newdir/f; mv /app/newdir/f /app/newdir/g; rm /app/data/record-3.txt; cat /app/new.txt' 2>&1)
check_eq "write mode: the program sees its writes" "created
more" "$out"
check_eq "the new file exists in the pod" "created
more" "$(in_pod cat /app/new.txt)"
check_eq "mkdir and rename happened in the pod" "in-dir" "$(in_pod cat /app/newdir/g)"
check_eq "rm happened in the pod" "gone" "$(in_pod test -e /app/data/record-3.txt && echo there || echo gone)"
check_eq "nothing was created on this machine" "no" "$([ -e /app ] && echo yes || echo no)"
out=$(mirrord_exec "${W[@]}" -- "$PROGRAMS/go_files" write /app/from-go.txt "written by go" 2>&1)
check_eq "static Go writes a pod file" "written by go" "$(in_pod cat /app/from-go.txt)"
mirrord_exec "${W[@]}" -- python3 -c 'f = open("/app/py.txt", "w"); f.write("from python"); f.flush(); import os; os.fsync(f.fileno()); import time; time.sleep(0.2); print(open("/app/py.txt").read())' >/dev/null 2>&1
check_eq "python's write + fsync" "from python" "$(in_pod cat /app/py.txt)"
mirrord_exec "${W[@]}" -- python3 -c 'import os; fd = os.open("/app/exit.txt", os.O_WRONLY | os.O_CREAT); os.write(fd, b"never closed"); os._exit(0)' 2>&1
check_eq "a file never closed is pushed when the program ends" "never closed" "$(in_pod cat /app/exit.txt)"
out=$(mirrord_exec "${W[@]}" -- sh -c 'mkdir /app/data 2>&1; rmdir /app/nonexistent 2>&1' 2>&1)
check_contains "errors are the pod's (EEXIST)" "File exists" "$out"
check_contains "errors are the pod's (ENOENT)" "No such file or directory" "$out"

# Patterns.
echo '{"feature": {"fs": {"not_found": ["\\.yaml$"]}}}' >"$WORK/nf.json"
out=$(mirrord_exec -f "$WORK/nf.json" -- sh -c 'cat /app/config.yaml; cat /app/data/record-1.txt' 2>&1)
check_contains "not_found pattern gives ENOENT" "/app/config.yaml: No such file or directory" "$out"
check_contains "other pod files still read" "changed" "$out"
echo '{"feature": {"fs": {"local": ["^/app/data"]}}}' >"$WORK/local.json"
out=$(mirrord_exec -f "$WORK/local.json" -- sh -c 'cat /app/data/record-1.txt; cat /app/config.yaml | head -2' 2>&1)
check_contains "local pattern keeps a path local" "/app/data/record-1.txt: No such file" "$out"
check_contains "the rest is still remote" "service: checkout" "$out"
echo '{"feature": {"fs": {"mode": "localwithoverrides", "read_only": ["^/app/data/"]}}}' >"$WORK/lwo.json"
out=$(mirrord_exec -f "$WORK/lwo.json" -- sh -c 'cat /app/data/record-1.txt; cat /app/config.yaml' 2>&1)
check_contains "localwithoverrides: read_only paths are remote" "changed" "$out"
check_contains "localwithoverrides: everything else local" "/app/config.yaml: No such file" "$out"
echo '{"feature": {"fs": {"mapping": {"^/mapped/(.*)$": "/app/$1"}}}}' >"$WORK/map.json"
out=$(mirrord_exec -f "$WORK/map.json" -- cat /mapped/data/record-1.txt 2>&1)
check_eq "mapping" "changed" "$out"
# A mapped path that stays local (/tmp is local by default) is used mapped by every operation.
mkdir -p "$WORK/mapped-here"
echo "{\"feature\": {\"fs\": {\"mapping\": {\"^/scratch/(.*)$\": \"$WORK/mapped-here/\$1\"}}}}" >"$WORK/map-local.json"
out=$(mirrord_exec -f "$WORK/map-local.json" -- sh -c 'mkdir /scratch/dir && echo made >/scratch/dir/file && mv /scratch/dir/file /scratch/dir/moved && cat /scratch/dir/moved && ls /scratch/dir && rm /scratch/dir/moved && rmdir /scratch/dir && echo removed' 2>&1)
check_eq "mapping: mkdir, create, rename, read, list, unlink, rmdir of a mapped local path" "made
moved
removed" "$out"
check_eq "... all at the mapped path" "" "$(ls -A "$WORK/mapped-here")"
[ -e /scratch ] && fail "the unmapped path was used" || pass "... none at the path as given"
out=$(mirrord_exec --fs-mode local -- cat /app/config.yaml 2>&1)
check_contains "--fs-mode local" "No such file or directory" "$out"

# A large fetch says how far it is, on a terminal only (`script` gives it one), then erases the line.
out=$(MIRRORD_FS_BY_RANGE_MB=0 MIRRORD_PROGRESS_AFTER_MS=0 script -qec "$MIRRORD exec --target pid/$POD_PID -- cat /app/big.bin >/dev/null" /dev/null 2>&1)
check_matches "a large fetch shows its progress on a terminal" "fetching /app/big.bin from the target: [0-9.]+ of 100.0 MB" "$out"
check_contains "... and erases it at the end" $'\r\033[K' "$out"
out=$(MIRRORD_FS_BY_RANGE_MB=0 MIRRORD_PROGRESS_AFTER_MS=0 mirrord_exec -- cat /app/big.bin 2>&1 >/dev/null)
check_eq "... and nothing when stderr is not a terminal" "" "$out"

# What was fetched or looked up is watched in the pod (inotify): re-opening an unchanged file,
# stat-ing it and looking up a missing path again cost no round trip, and changes are seen at once.
start_agent --log-level info
"$MIRRORD" exec --agent "$AGENT_ADDR" -- python3 -c '
import os
for i in range(50):
    open("/app/config.yaml").read(); os.stat("/app/config.yaml"); os.path.exists("/app/missing.yaml")
' >"$WORK/cached.out" 2>&1
wait_for_text "$WORK/agent.err" "round trips" 3
trips=$(grep "round trips" "$WORK/agent.err" | tail -1)
count() { grep -oE "$1 [0-9]+" <<<"$trips" | awk '{print $2}'; }
log "$trips"
check_matches "50 re-opens: one FileOpen for the file (the others: resolv.conf, hosts)" "^[1-3]$" "$(count FileOpen)"
check_matches "50 stats and 50 lookups of a missing path: a few FileStats (start-up's), not 100" "^1?[0-9]$" "$(count FileStat)"
"$MIRRORD" exec --agent "$AGENT_ADDR" -- python3 -c '
import os, sys, time
read = lambda: (open("/app/data/record-1.txt").read().strip(), os.path.exists("/app/data/fresh.txt"), os.listdir("/app/data").__len__())
before = read()
print(*before, flush=True)
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]): time.sleep(0.02)
t0 = time.time()
while read()[0] == before[0] and time.time() - t0 < 5: time.sleep(0.005)
print(*read(), "after %.0f ms" % ((time.time() - t0) * 1000), flush=True)
' "$WORK/changed" >"$WORK/changes.out" 2>&1 &
watcher=$!
for _ in $(seq 100); do [ -e "$WORK/changed.ready" ] && break; sleep 0.05; done
in_pod sh -c 'echo new > /app/data/fresh.txt; echo "record 1 v2" > /app/data/.r1 && mv /app/data/.r1 /app/data/record-1.txt'
touch "$WORK/changed"
wait_bounded "$watcher" 30
out=$(cat "$WORK/changes.out")
log "$out"
entries=$(in_pod ls -A /app/data | wc -l)
check_contains "before: the pod's file, no fresh.txt" "changed False $((entries - 1))" "$out"
check_matches "after a change in the pod (replaced by rename, a file created): seen, within a second" \
    "^record 1 v2 True $entries after [0-9]{1,3} ms$" "$out"

# A large pod file is not fetched whole: 4 KiB at 700 MiB of a 1 GiB file, by read() and by mmap();
# a change in the pod is seen by the next open. A local agent (a unix link) passes the pod's open
# file itself; through a TCP link the file is served by range (a FUSE view), in a few reads.
truncate -s 1G "$POD_FILES/huge.db"
UNIX_AGENT=$AGENT_ADDR
SESSION_FP=$("$AGENT" --make-identity "$WORK/session.pem")
TLS_PORT=$(free_port)
AGENT_NAME=tls start_agent --log-level info --listen "tcp:127.0.0.1:$TLS_PORT" --client-fingerprint "$SESSION_FP"
TLS_FP=$(grep -o 'fingerprint=[0-9a-f]*' "$WORK/tls.out" | cut -d= -f2)
# huge_file_session AGENT_LOG SESSIONS_BEFORE LINK...: sets trips, the agent's count for it (after
# the summaries of the sessions it had before, which may come late).
huge_file_session() {
    local agent_log=$1 before=$2
    shift 2
    for _ in $(seq 60); do [ "$(grep -c "round trips" "$agent_log")" -ge "$before" ] && break; sleep 0.05; done
    printf 'MARKER-AT-700M' | dd of="$POD_FILES/huge.db" bs=1 seek=$((700 << 20)) conv=notrunc status=none
    rm -f "$WORK/huge-changed" "$WORK/huge-changed.ready"
    "$MIRRORD" exec "$@" -- python3 -c '
import mmap, os, sys, time
at = 700 << 20
f = open("/app/huge.db", "rb")
f.seek(at)
print(f.read(14).decode(), os.fstat(f.fileno()).st_size, os.path.getsize("/app/huge.db"))
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print(m[at + 4:at + 14].decode(), len(m))
os.close(os.open("/app/huge.db", os.O_RDONLY | os.O_NOFOLLOW))
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]): time.sleep(0.02)
t0 = time.time()
while time.time() - t0 < 5:
    with open("/app/huge.db", "rb") as g:
        g.seek(at)
        now = g.read(14).decode()
    if now != "MARKER-AT-700M": break
    time.sleep(0.005)
print(now)
' "$WORK/huge-changed" >"$WORK/huge.out" 2>&1 &
    local reader=$!
    for _ in $(seq 100); do [ -e "$WORK/huge-changed.ready" ] && break; sleep 0.05; done
    printf 'CHANGED-AT-700' | dd of="$POD_FILES/huge.db" bs=1 seek=$((700 << 20)) conv=notrunc status=none
    touch "$WORK/huge-changed"
    wait_bounded "$reader" 30
    log "$(cat "$WORK/huge.out")"
    for _ in $(seq 60); do [ "$(grep -c "round trips" "$agent_log")" -gt "$before" ] && break; sleep 0.05; done
    trips=$(grep "round trips" "$agent_log" | tail -1)
    log "$trips"
}
HUGE_WANT="MARKER-AT-700M 1073741824 1073741824
ER-AT-700M 1073741824
CHANGED-AT-700"
huge_file_session "$WORK/agent.err" 2 --agent "$UNIX_AGENT"
check_eq "a 1 GiB pod file through a local agent: read() and mmap() at 700 MiB, its size; a change seen by the next open" \
    "$HUGE_WANT" "$(cat "$WORK/huge.out")"
check_matches "... the pod's file itself, passed: no FileRead but start-up's (resolv.conf, hosts)" "^[0-2]$" "$(count FileRead)"
huge_file_session "$WORK/tls.err" 0 --agent "tcp:127.0.0.1:$TLS_PORT" --agent-identity "$WORK/session.pem" --agent-fingerprint "$TLS_FP"
check_eq "through a TCP link (served by range)" "$HUGE_WANT" "$(cat "$WORK/huge.out")"
check_matches "... in a few reads of at most 1 MiB, not a gigabyte's 1024" "^[0-9]{1,2}$" "$(count FileRead)"
out=$(MIRRORD_FS_BY_RANGE_MB=0 "$MIRRORD" exec --agent "tcp:127.0.0.1:$TLS_PORT" --agent-identity "$WORK/session.pem" \
    --agent-fingerprint "$TLS_FP" -- sha256sum /app/big.bin 2>&1 | cut -d' ' -f1)
check_eq "the 100 MB file by range through TCP: its sha256sum" "$want" \
    "$("$MIRRORD" exec --agent "tcp:127.0.0.1:$TLS_PORT" --agent-identity "$WORK/session.pem" --agent-fingerprint "$TLS_FP" -- sha256sum /app/big.bin 2>&1 | cut -d' ' -f1)"
check_eq "... and copied whole through TCP" "$want" "$out"
finish
