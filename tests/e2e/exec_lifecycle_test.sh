#!/bin/bash
# Processes, exit codes, signals and the supervisor's own death.
source "$(dirname "$0")/lib.sh"
sandbox_up

out=$(mirrord_exec -- bash -c 'sh -c "curl -sS http://backend/"' 2>&1)
check_eq "a grandchild (fork + exec twice) is still remote" "hello from backend; you are 10.77.0.2" "$out"
out=$(mirrord_exec -- python3 -c '
import subprocess, os, threading
print(subprocess.run(["curl", "-sS", "http://backend/"], capture_output=True, text=True).stdout.strip())
pid = os.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", "echo child $SECRET_TOKEN; hostname"])
os.waitpid(pid, 0)
r = []
t = threading.Thread(target=lambda: r.append(subprocess.run(["curl", "-sS", "http://backend/"], capture_output=True, text=True).stdout.strip()))
t.start(); t.join()
print("thread", r[0])
' 2>&1)
check_contains "python subprocess (posix_spawn/vfork)" "hello from backend; you are 10.77.0.2" "$out"
check_contains "python fork + exec keeps env and hostname" "child pod-only-secret-42
$SANDBOX_NAME-pod-7d9f" "$out"
check_contains "exec from a non-main thread" "thread hello from backend" "$out"

mirrord_exec -- sh -c 'exit 42'; rc=$?
check_eq "exit code is the program's" "42" "$rc"
mirrord_exec -- sh -c 'kill -TERM $$'; rc=$?
check_eq "death by signal is reported as such" "143" "$rc"
out=$(bash -c "\"$MIRRORD\" exec --target pid/$POD_PID -- sh -c 'kill -KILL \$\$'; echo \"rc=\$?\"" 2>&1)
check_contains "SIGKILL too" "rc=137" "$out"
out=$(mirrord_exec -- no-such-command-xyz 2>&1); rc=$?
check_eq "a missing command exits 127" "127" "$rc"
check_contains "and says so" "no-such-command-xyz: command not found" "$out"
out=$(mirrord_exec -- /no/such/program 2>&1); rc=$?
check_eq "a missing program given by path exits 127, as in a shell" "127" "$rc"
printf 'not a program\n' >"$WORK/not-executable"
out=$(mirrord_exec -- "$WORK/not-executable" 2>&1); rc=$?
check_eq "a file that is not executable exits 126" "126" "$rc"
check_contains "and says why" "Permission denied" "$out"
printf '\x7fELF garbage' >"$WORK/bad-binary"; chmod +x "$WORK/bad-binary"
out=$(mirrord_exec -- "$WORK/bad-binary" 2>&1); rc=$?
check_eq "a binary the kernel cannot run exits 126" "126" "$rc"
out=$("$MIRRORD" exec --target pid/999999 -- true 2>&1); rc=$?
check_eq "a missing target pid fails" "1" "$rc"
check_contains "with a clear message" "no such process" "$out"
out=$(KUBECONFIG=$WORK/none "$MIRRORD" exec --target deploy/api -- true 2>&1); rc=$?
check_contains "a Kubernetes target without a kubeconfig says so" "no kubeconfig found" "$out"
out=$("$MIRRORD" exec --agent unix:/nonexistent/agent.sock -- true 2>&1); rc=$?
check_eq "an unreachable agent fails" "1" "$rc"
check_contains "and says where it tried" "connecting to the agent at unix:/nonexistent/agent.sock" "$out"
out=$("$MIRRORD" exec 2>&1); rc=$?
check_eq "no command: usage error" "2" "$rc"
out=$("$MIRRORD" exec --bogus-flag -- true 2>&1); rc=$?
check_eq "unknown flag: usage error" "2" "$rc"

# stdin, stdout and large output pass through untouched.
out=$(seq 1 100000 | mirrord_exec -- sort -n -r | head -1)
check_eq "pipes through the program" "100000" "$out"

# Supervisor killed -> the program dies with it (PTRACE_O_EXITKILL), never left stopped or orphaned.
"$MIRRORD" exec --target "pid/$POD_PID" -- sh -c 'sleep 300; echo survived' >"$WORK/orphan.out" 2>&1 &
sup=$!
child=""
for _ in $(seq 50); do
    child=$(pgrep -x -P "$(pgrep -P "$sup" -x sh | head -1)" sleep 2>/dev/null | head -1 || true)
    [ -n "$child" ] && break
    sleep 0.1
done
check_eq "the program started" "yes" "$([ -n "$child" ] && echo yes || echo no)"
kill -9 "$sup"
wait "$sup" 2>/dev/null || true
gone=no
for _ in $(seq 50); do
    if ! kill -0 "$child" 2>/dev/null; then gone=yes; break; fi
    sleep 0.1
done
check_eq "killing the supervisor kills the program" "yes" "$gone"
check_not_contains "it never ran on" "survived" "$(cat "$WORK/orphan.out")"
until_none "mirrord-agent.*--target-pid $POD_PID" 10
check_eq "the agent it started is gone too" "" "$(pgrep -f "mirrord-agent.*--target-pid $POD_PID" || true)"

# Killed at any moment of its start-up, it leaves nothing behind either.
for delay in 0 0.005 0.01 0.02 0.05 0.1 0.2 0.4; do
    "$MIRRORD" exec --target "pid/$POD_PID" -- sh -c 'sleep 307' >/dev/null 2>&1 &
    sup=$!
    sleep "$delay"
    kill -9 "$sup" 2>/dev/null
    wait "$sup" 2>/dev/null
done
until_none 'sleep 307' 10
check_eq "a supervisor killed during start-up leaves no process behind" "" "$(pgrep -f 'sleep 307' || true)"
pkill -9 -f 'sleep 307' 2>/dev/null

# SIGTERM to the supervisor is passed to the program, which may handle it.
"$MIRRORD" exec --target "pid/$POD_PID" -- python3 -c '
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: (print("got TERM", flush=True), sys.exit(3)))
print("ready", flush=True)
time.sleep(60)' >"$WORK/term.out" 2>&1 &
sup=$!
wait_for_text "$WORK/term.out" ready 10
kill -TERM "$sup"
wait "$sup"; rc=$?
check_eq "SIGTERM is forwarded; the program's exit code comes back" "3" "$rc"
check_contains "the program handled it" "got TERM" "$(cat "$WORK/term.out")"

# What a killed session left in $TMPDIR goes with the next session, however recent (a session's
# directories are locked from the moment they have their names); what a live one uses stays, and
# so does what is not mirrord's.
export TMPDIR=$WORK/tmp-sweep
mkdir -p "$TMPDIR/mirrord-files-of-another-tool"
mirrord_exec -- sleep 20 >/dev/null 2>&1 &
live=$!
BACKGROUND_PIDS+=("$live")
for _ in $(seq 100); do compgen -G "$TMPDIR/mirrord-agent-??????" >/dev/null && break; sleep 0.1; done
mkdir -p "$TMPDIR/mirrord-files-Ab1234/app"
out=$(MIRRORD_LOG=info mirrord_exec -- true 2>&1)
check_contains "an ended session's directory is removed by the next session" "removed 1 directories" "$out"
check_eq "... it is gone" "no" "$([ -e "$TMPDIR/mirrord-files-Ab1234" ] && echo yes || echo no)"
check_eq "... a live session's directories stay" "2" "$(ls -d "$TMPDIR"/mirrord-agent-?????? "$TMPDIR"/mirrord-files-?????? 2>/dev/null | wc -l)"
check_eq "... and another tool's" "yes" "$([ -d "$TMPDIR/mirrord-files-of-another-tool" ] && echo yes || echo no)"
kill "$live"
finish
