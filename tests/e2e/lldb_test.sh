#!/bin/bash
# Debugging under mirrord with the real lldb (gdb-remote to `mirrord exec --gdbserver`): breakpoints by
# name and by file:line in a PIE C program and a static Go program, variables holding the pod's data,
# step, finish, next, continue to the right exit code, and Ctrl-C in a terminal.
source "$(dirname "$0")/lib.sh"
sandbox_up
C_PROGRAM=$PROGRAMS/gdb_target
GO_PROGRAM=$PROGRAMS/go_gdb_target

# debug NAME PROGRAM-ARGS... -- LLDB-COMMANDS...: lldb in batch mode against the program under mirrord.
debug() {
    local name=$1 program=() commands=() c; shift
    while [ "$1" != "--" ]; do program+=("$1"); shift; done
    shift
    for c in "$@"; do commands+=(-o "$c"); done
    debug_session "$name" lldb "${program[@]}" -- lldb --batch -o "gdb-remote 127.0.0.1:{PORT}" "${commands[@]}" "${program[0]}"
}

debug c "$C_PROGRAM" /app/config.yaml -- "breakpoint set --name process_config" "breakpoint set --file gdb_target.c --line 46" \
    continue "frame variable content" step bt finish continue "frame variable lines" "image list" continue
out=$(cat "$WORK/c.lldb")
check_contains "C: the breakpoint by name is hit" "stop reason = breakpoint 1.1" "$out"
check_contains "... at the PIE's real address" "gdb_target\`process_config(content=" "$out"
check_contains "C: a variable holds the pod's file, read through mirrord" '"# only the pod has this file\nservice: checkout' "$out"
check_contains "C: step into a function" "stop reason = step in" "$out"
check_contains "... its caller is in the backtrace" "gdb_target\`main(argc=2" "$out"
check_contains "C: finish returns its value" "Return value: (int) \$0 = 5" "$out"
check_contains "C: the file:line breakpoint is hit" "stop reason = breakpoint 2.1" "$out"
check_contains "... with the local computed" "(int) lines = 5" "$out"
check_matches "C: shared libraries at their load addresses" "0x[0-9a-f]+ .*/libc\.so\.6" "$out"
check_contains "C: continue to the end, with the exit code" "exited with status = 5" "$out"
check_eq "C: mirrord exits with the program's code" "5" "$(cat "$WORK/c.rc")"
check_not_contains "C: no stop at corrupted code" "_start + 1" "$out"

# Go: lldb has no Go support for variables; the string's bytes are read as C's.
debug go "$GO_PROGRAM" /app/config.yaml -- "process handle SIGURG --stop false --notify false --pass true" \
    "breakpoint set --file go_gdb_target.go --line 20" "breakpoint set --name main.process" continue continue \
    "settings set target.language c99" "memory read --format s \$rax" next "thread list" continue
out=$(cat "$WORK/go.lldb")
check_contains "Go: the file:line breakpoint is hit" "stop reason = breakpoint 1.1" "$out"
check_contains "Go: the function breakpoint is hit" "go_gdb_target\`main.process at go_gdb_target.go:11" "$out"
check_contains "Go: the string holds the pod's file" '"# only the pod has this file\nservice: checkout' "$out"
check_contains "Go: next" "go_gdb_target.go:12" "$out"
check_matches "Go: its threads are listed" "thread #[2-9]: tid = " "$out"
check_contains "Go: exit code" "exited with status = 5" "$out"

# Signals lldb passes silently arrive while it single-steps (as Go's SIGURG does): the step is not
# taken into the handler (which would end back on the breakpoint being stepped off).
debug ticking "$C_PROGRAM" --ticking -- "process handle SIGALRM --stop false --notify false --pass true" \
    "breakpoint set --name ticking_loop" continue next next next "frame variable done" continue
out=$(cat "$WORK/ticking.lldb")
check_not_contains "signals during a step: not stopped in the handler" "tick(sig=" "$out"
check_contains "signals during a step: next reaches the next lines" "(int) done = 7" "$out"
check_contains "... and the program ends with its code" "exited with status = 7" "$out"

# Ctrl-C in an interactive lldb (tmux): the running program stops, kill ends it and mirrord.
serve_debuggee spin -- "$C_PROGRAM" --spin
# lldb outlives a killed tmux session (and then spins on its lost terminal): it goes by its pid.
on_exit '[ -s "$WORK/lldb.pid" ] && kill -9 "$(cat "$WORK/lldb.pid")" 2>/dev/null'
terminal_start "echo \$\$ >'$WORK/lldb.pid'; exec lldb -o 'gdb-remote 127.0.0.1:$DEBUGGEE_PORT' '$C_PROGRAM'"
wait_screen "stop reason = signal SIGSTOP" && pass "lldb: the program waits at its first instruction" || fail "lldb: no first stop"
type_line "continue"
wait_screen "resuming"
# Ctrl-C once the program spins in main (state R), not while it is still starting up.
wait_running "$C_PROGRAM --spin"
tmux send-keys -t "$SESSION" C-c
wait_screen "at gdb_target.c:91" && pass "lldb: Ctrl-C stops the spinning program where it is" || fail "lldb: Ctrl-C"
type_line "kill"
wait_bounded "$DEBUGGEE_PID" 30; rc=$?
check_eq "lldb: kill ends the program (and mirrord)" "137" "$rc"
finish
