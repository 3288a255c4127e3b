# Shared helpers for the end-to-end tests. Each test sources this, calls `sandbox_up` for a private
# sandbox pod (unique namespace names), and everything is torn down on exit, whatever happens.
# MRD_KEEP_WORK=DIR keeps a copy of the test's work directory (its programs' and agent's logs).
set -uo pipefail  # no -e: a failing command is a failed check, not an aborted test

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${MIRRORD_BUILD:-$ROOT/build}
MIRRORD=$BUILD/tracer/mirrord
# The sanitizer round (scripts/test): slower, bigger binaries.
SANITIZED=$(grep -qs '^MIRRORD_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" && echo yes || echo no)
AGENT=${MIRRORD_AGENT_BINARY:-$BUILD/agent/mirrord-agent}
PROBE=$BUILD/tests/agent-probe
HELPERS=$BUILD/tests/helpers
SANDBOX=$ROOT/scripts/sandbox-pod
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "/tmp/mrd-e2e-$TEST_NAME.XXXXXX")
SANDBOX_NAME=""
BACKGROUND_PIDS=()
FAILURES=0

CLEANUP_HOOKS=()

# on_exit COMMAND: run COMMAND (a string) at exit, before the sandbox goes; the exit status is kept.
on_exit() { CLEANUP_HOOKS+=("$1"); }

cleanup() {
    local rc=$?
    for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
    for pid in "${BACKGROUND_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "$SANDBOX_NAME" ] && "$SANDBOX" down "$SANDBOX_NAME" 2>/dev/null || true
    [ -n "${MRD_KEEP_WORK:-}" ] && cp -r "$WORK" "$MRD_KEEP_WORK"; rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$TEST_NAME ${SECONDS}s] $*" >&2; }
fail() { log "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
pass() { log "ok: $*"; }

# check DESCRIPTION EXPECTED ACTUAL: exact match
check_eq() {
    if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}
# check_contains DESCRIPTION NEEDLE HAYSTACK
check_contains() {
    if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: [$2] not in [$3]"; fi
}
# check_matches DESCRIPTION REGEX TEXT: TEXT (any of its lines) matches the extended regex
check_matches() {
    if grep -Eq -- "$2" <<<"$3"; then pass "$1"; else fail "$1: /$2/ does not match [$3]"; fi
}
check_not_contains() {
    if [[ "$3" != *"$2"* ]]; then pass "$1"; else fail "$1: [$2] unexpectedly in [$3]"; fi
}

finish() {
    if [ "$FAILURES" -gt 0 ]; then log "$FAILURES check(s) failed"; exit 1; fi
    log "all checks passed"
}

# sandbox_up [--big-file MB]: sets POD_PID
sandbox_up() {
    SANDBOX_NAME="e$$$(printf '%04x' $((RANDOM % 65536)))"
    local out
    out=$("$SANDBOX" up "$SANDBOX_NAME" "$@") || { log "sandbox-pod up failed"; exit 1; }
    POD_PID=${out#POD_PID=}
    log "sandbox $SANDBOX_NAME up, pod pid $POD_PID"
}

in_svc() { "$SANDBOX" in-svc "$SANDBOX_NAME" "$@"; }
in_pod() { nsenter -t "$POD_PID" -m -r --wdns=/ -- "$@"; }  # a command in the pod's mount namespace and root

# start_agent [ARGS...]: an agent for the sandbox pod on a unix socket, $WORK/NAME.sock with its
# output in NAME.out and NAME.err (NAME: $AGENT_NAME, else agent); sets AGENT_ADDR and AGENT_PID
start_agent() {
    local name=${AGENT_NAME:-agent}
    AGENT_ADDR="unix:$WORK/$name.sock"
    "$AGENT" --target-pid "$POD_PID" --listen "$AGENT_ADDR" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    AGENT_PID=$!
    BACKGROUND_PIDS+=("$AGENT_PID")
    for _ in $(seq 100); do
        grep -q "ready" "$WORK/$name.out" 2>/dev/null && return 0
        kill -0 "$AGENT_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "agent did not start: $(cat "$WORK/$name.err")"
    exit 1
}

# wait_for_text FILE TEXT SECONDS: until FILE holds TEXT (status 1 if it never did)
wait_for_text() {
    for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# until_none PATTERN SECONDS: wait until no process's command line matches PATTERN (pgrep -f).
until_none() {
    for _ in $(seq $(($2 * 10))); do pgrep -f -- "$1" >/dev/null || return 0; sleep 0.1; done
    return 1
}

PROGRAMS=$BUILD/tests/programs

# mirrord_exec [MIRRORD OPTIONS...] -- COMMAND...: run under mirrord against the sandbox pod
mirrord_exec() { "$MIRRORD" exec --target "pid/$POD_PID" "$@"; }

# free_port: a TCP port nothing listens on right now
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve_debuggee NAME [MIRRORD OPTIONS...] -- PROGRAM [ARGS...]: the program under mirrord --gdbserver,
# stopped at its first instruction; sets DEBUGGEE_PORT and DEBUGGEE_PID (mirrord's). Output in
# $WORK/NAME.program and .mirrord.
serve_debuggee() {
    local name=$1 options=(); shift
    while [ "$1" != "--" ]; do options+=("$1"); shift; done
    shift
    DEBUGGEE_PORT=$(free_port)
    "$MIRRORD" exec --target "pid/$POD_PID" --gdbserver "127.0.0.1:$DEBUGGEE_PORT" "${options[@]}" -- "$@" \
        >"$WORK/$name.program" 2>"$WORK/$name.mirrord" &
    DEBUGGEE_PID=$!
    for _ in $(seq 100); do grep -q "waiting for gdb" "$WORK/$name.mirrord" && return 0; sleep 0.1; done
    log "$name: the program did not wait for a debugger: $(cat "$WORK/$name.mirrord")"
}

# A terminal for interactive tests (tmux): terminal_start COMMAND (the session goes at exit), screen
# (what it shows), wait_screen TEXT (until it shows TEXT, up to 15 s), type_line TEXT (then Enter).
terminal_start() {
    SESSION="mrd-$TEST_NAME-$$"
    on_exit 'tmux kill-session -t "$SESSION" 2>/dev/null'
    tmux new-session -d -s "$SESSION" -x 200 -y 50 "$1"
}
screen() { tmux capture-pane -t "$SESSION" -p -S -200; }
wait_screen() {
    for _ in $(seq 150); do screen | grep -qF -- "$1" && return 0; sleep 0.1; done
    log "screen was: $(screen)"
    return 1
}
type_line() { tmux send-keys -t "$SESSION" -l "$1"; tmux send-keys -t "$SESSION" Enter; }

# wait_running COMMAND-LINE: until a process with exactly that command line runs on a CPU (state R,
# up to 30 s), then half a second more: a debugger's Ctrl-C then finds it spinning, not starting up.
wait_running() {
    local pid=""
    for _ in $(seq 300); do
        pid=$(pgrep -f -x "$1" | head -1)
        [ -n "$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = R ] && break
        sleep 0.1
    done
    sleep 0.5
}

# debug_session NAME EXT PROGRAM [ARGS...] -- DEBUGGER [ARGS...]: the program under mirrord
# --gdbserver, then the debugger once against it ("{PORT}" in its arguments is the server's port);
# the debugger's output in $WORK/NAME.EXT, mirrord's exit status (the program's) in $WORK/NAME.rc.
debug_session() {
    local name=$1 ext=$2 program=() debugger=() arg; shift 2
    while [ "$1" != "--" ]; do program+=("$1"); shift; done
    shift
    serve_debuggee "$name" -- "${program[@]}"
    for arg in "$@"; do debugger+=("${arg//\{PORT\}/$DEBUGGEE_PORT}"); done
    timeout -k 5 60 "${debugger[@]}" </dev/null >"$WORK/$name.$ext" 2>&1
    wait_bounded "$DEBUGGEE_PID" 30
    echo $? >"$WORK/$name.rc"
}

# background CMD...: start CMD, remember it for cleanup; sets BG_PID
background() {
    "$@" &
    BG_PID=$!
    BACKGROUND_PIDS+=("$BG_PID")
}

# wait_bounded PID SECONDS: wait for a background PID; its status, or 124 (as timeout(1)) when it had
# to be killed after SECONDS. A hung program fails its checks instead of hanging the test. (No bash
# subshell as watchdog: it would run this file's EXIT trap when killed; and an exited child stays a
# zombie until waited for, so "still there" means "not a zombie".)
wait_bounded() {
    local deadline=$((SECONDS + $2)) state
    while state=$(ps -o stat= -p "$1") && [[ "$state" != Z* ]]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "pid $1 still running after $2 s: killed"
            kill -9 "$1" 2>/dev/null
            wait "$1"
            return 124
        fi
        sleep 0.1
    done
    wait "$1"
}
