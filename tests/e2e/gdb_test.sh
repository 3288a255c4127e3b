#!/bin/bash
# Debugging under mirrord with the real gdb: breakpoints in C and Go programs, variables holding the
# pod's data, stepping, continuing to the right exit code, remote connections kept across a stop,
# Ctrl-C, and `mirrord exec --gdb` in a terminal.
source "$(dirname "$0")/lib.sh"
sandbox_up
C_PROGRAM=$PROGRAMS/gdb_target
GO_PROGRAM=$PROGRAMS/go_gdb_target

# debug NAME PROGRAM-ARGS... -- GDB-ARGS...: gdb in batch mode against the program under mirrord.
debug() {
    local name=$1 program=(); shift
    while [ "$1" != "--" ]; do program+=("$1"); shift; done
    shift
    debug_session "$name" gdb "${program[@]}" -- gdb -batch -nx -ex "set sysroot /" -ex "target remote 127.0.0.1:{PORT}" "$@" "${program[0]}"
}

debug c "$C_PROGRAM" /app/config.yaml -- -ex "break process_config" -ex continue -ex "print content" \
    -ex step -ex "info frame" -ex finish -ex next -ex "print lines" -ex "info sharedlibrary" -ex continue
out=$(cat "$WORK/c.gdb")
check_contains "C: the breakpoint is hit" "Breakpoint 1, process_config" "$out"
check_contains "C: a variable holds the pod's file, read through mirrord" '"# only the pod has this file\nservice: checkout' "$out"
check_contains "C: step into a function" "count_lines (content=" "$out"
check_contains "C: finish returns its value" "Value returned is \$2 = 5" "$out"
check_contains "C: next, then the local" "\$3 = 5" "$out"
check_matches "C: shared libraries, from the server's svr4 list" "0x[0-9a-f]+ +0x[0-9a-f]+ +Yes +/.*libc\.so\.6" "$out"
check_contains "C: continue to the end, with the exit code" "exited with code 05" "$out"
check_eq "C: mirrord exits with the program's code" "5" "$(cat "$WORK/c.rc")"

debug go "$GO_PROGRAM" /app/config.yaml -- -ex "break main.process" -ex continue -ex "print content" \
    -ex next -ex next -ex "print lines" -ex "info threads" -ex continue
out=$(cat "$WORK/go.gdb")
check_contains "Go: the breakpoint is hit" "hit Breakpoint 1, main.process" "$out"
check_contains "Go: the string holds the pod's file" '"# only the pod has this file\nservice: checkout' "$out"
check_contains "Go: next and print" "\$2 = 5" "$out"
check_contains "Go: its threads are listed" "Thread" "$out"
check_contains "Go: exit code" "exited with code 05" "$out"

# Signals arriving while gdb single-steps (as Go's SIGURG does): gdb steps over their handlers.
debug ticking "$C_PROGRAM" --ticking -- -ex "break ticking_loop" -ex continue -ex next -ex next -ex next -ex "print done" -ex continue
out=$(cat "$WORK/ticking.gdb")
check_not_contains "signals during a step: not stopped in the handler" "tick (sig=" "$out"
check_contains "signals during a step: next reaches the next line" "\$1 = 7" "$out"

# Hardware breakpoints and watchpoints (debug registers), also in a thread started after the watch;
# where this machine gives none (some VMs: gdb's own hbreak is never hit), only that the program ends.
if gdb -batch -ex "hbreak watch_ready" -ex run --args "$C_PROGRAM" --watch 2>&1 | grep -q "Breakpoint 1, watch_ready"; then
    hardware=yes
else
    hardware=""
    log "skipped: hits of hardware breakpoints and watchpoints (this machine's gdb gets none without mirrord)"
fi
debug watch "$C_PROGRAM" --watch -- -ex "hbreak watch_ready" -ex continue -ex "watch watched" -ex continue -ex "info threads" -ex continue
out=$(cat "$WORK/watch.gdb")
check_contains "hbreak: a hardware breakpoint (Z1)" "Hardware assisted breakpoint 1 at" "$out"
[ -n "$hardware" ] && check_contains "... is hit" "Breakpoint 1, watch_ready" "$out"
check_contains "watch: a hardware watchpoint" "Hardware watchpoint 2: watched" "$out"
[ -n "$hardware" ] && check_contains "... fires in the new thread, with the new value" "New value = 42" "$out"
[ -n "$hardware" ] && check_contains "... stopped in the writer" "writer (arg=" "$out"
check_contains "... and the program ends" "exited with code 052" "$out"

debug http "$C_PROGRAM" --http backend 80 -- -ex "break paused" -ex continue -ex "shell sleep 5" -ex continue
check_contains "a remote connection survives a stop at a breakpoint" "hello from backend; you are 10.77.0.2" "$(cat "$WORK/http.program")"
check_contains "... and the program ends normally" "exited normally" "$(cat "$WORK/http.gdb")"

# gdb's machine interface, as IDEs drive it (VS Code's cppdbg with miDebuggerServerAddress, CLion's
# remote debug): the MI commands they send, in order.
serve_debuggee mi -- "$C_PROGRAM" /app/config.yaml
printf '%s\n' "-gdb-set sysroot /" "-target-select remote 127.0.0.1:$DEBUGGEE_PORT" "-break-insert process_config" \
    "-exec-continue" "-data-evaluate-expression content" "-exec-next" "-stack-list-locals 1" "-exec-continue" "-gdb-exit" |
    timeout 60 gdb --interpreter=mi2 -nx "$C_PROGRAM" >"$WORK/mi.gdb" 2>&1
wait_bounded "$DEBUGGEE_PID" 30
out=$(cat "$WORK/mi.gdb")
check_contains "MI: connected" "^connected" "$out"
check_contains "MI: the breakpoint is hit" '*stopped,reason="breakpoint-hit"' "$out"
check_contains "MI: the pod's file in an expression" '^done,value="0x' "$out"
check_contains "... holding it" '# only the pod has this file\\nservice: checkout' "$out"
check_contains "MI: next, then the locals" '{name="lines",value="5"}' "$out"
check_contains "MI: the exit code" '*stopped,reason="exited",exit-code="05"' "$out"

# --debug-child: a wrapper's child is debugged, the wrapper runs on.
serve_debuggee child --debug-child gdb_target -- bash -c "\"$C_PROGRAM\" /app/config.yaml; echo the wrapper saw \$?"
timeout 60 gdb -batch -nx -ex "set sysroot /" -ex "target remote 127.0.0.1:$DEBUGGEE_PORT" -ex "break process_config" -ex continue \
    -ex "print content" -ex continue "$C_PROGRAM" >"$WORK/child.gdb" 2>&1
wait_bounded "$DEBUGGEE_PID" 30
out=$(cat "$WORK/child.gdb")
check_contains "--debug-child: the named child stops at the breakpoint" "Breakpoint 1, process_config" "$out"
check_contains "... and reads the pod's file" '"# only the pod has this file\nservice: checkout' "$out"
check_contains "... and runs to its end" "exited with code 05" "$out"
check_contains "the wrapper runs on and sees the child's code" "the wrapper saw 5" "$(cat "$WORK/child.program")"
check_contains "mirrord says which process it waits for" "gdb will debug the first process that runs gdb_target" "$(cat "$WORK/child.mirrord")"
out=$("$MIRRORD" exec --target "pid/$POD_PID" --debug-child x -- true 2>&1); rc=$?
check_eq "--debug-child without a debugger: a usage error" "2" "$rc"

# Ctrl-C: gdb interrupts a running program; kill ends it.
serve_debuggee spin -- "$C_PROGRAM" --spin
port=$DEBUGGEE_PORT sup=$DEBUGGEE_PID
timeout 60 gdb -batch -nx -ex "set sysroot /" -ex "target remote 127.0.0.1:$port" -ex continue -ex "print \$pc != 0" -ex kill "$C_PROGRAM" >"$WORK/spin.gdb" 2>&1 &
timeout_pid=$!
# Ctrl-C once gdb has let the program run (it spins: state R). The signal goes to gdb itself: timeout(1)
# would forward it twice (to gdb and to its process group), and a second Ctrl-C makes gdb give up.
wait_running "$C_PROGRAM --spin"
pkill -INT -x -P "$timeout_pid" gdb
wait "$timeout_pid"
check_contains "Ctrl-C stops the running program" "received signal SIGINT" "$(cat "$WORK/spin.gdb")"
wait_bounded "$sup" 30; rc=$?
check_eq "kill from gdb ends it (and mirrord)" "137" "$rc"

# SIGTERM while the program waits for a debugger: with nobody to decide, it takes its course.
serve_debuggee waiting -- "$C_PROGRAM" /app/config.yaml
kill -TERM "$DEBUGGEE_PID"
wait_bounded "$DEBUGGEE_PID" 15
check_eq "SIGTERM to mirrord waiting for gdb: the program ends by it, and mirrord" "143" "$?"

# mirrord exec --gdb: gdb in this terminal (tmux).
terminal_start "\"$MIRRORD\" exec --target pid/$POD_PID --gdb -- \"$C_PROGRAM\" /app/config.yaml; echo MIRRORD-RC=\$?; sleep 60"
wait_screen "(gdb)" && pass "--gdb starts gdb connected to the program" || fail "--gdb: no gdb prompt"
type_line "break count_lines"
type_line "continue"
wait_screen "Breakpoint 1, count_lines" && pass "--gdb: breakpoints work" || fail "--gdb: breakpoint"
type_line "print *content@6"
wait_screen '"# only"' && pass "--gdb: the pod's data is visible" || fail "--gdb: data"
type_line "continue"
wait_screen "exited with code 05" && pass "--gdb: runs to the end" || fail "--gdb: end"
type_line "quit"
wait_screen "MIRRORD-RC=5" && pass "--gdb: quitting gdb ends mirrord with the program's code" || fail "--gdb: rc"
finish
