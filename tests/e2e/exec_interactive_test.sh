#!/bin/bash
# An interactive bash under mirrord, driven through a real terminal (tmux): commands run remote,
# Ctrl-C interrupts, Ctrl-Z/fg job control works, and exit codes come back.
source "$(dirname "$0")/lib.sh"
sandbox_up
terminal_start "bash --norc --noprofile -i"
for _ in $(seq 50); do screen | grep -qE '[$#] *$' && break; sleep 0.1; done
type_line "PS1='outer\$ '; \"$MIRRORD\" exec --target pid/$POD_PID -- bash --norc --noprofile -i; echo OUTER-RC=\$?"
sleep 1
type_line "PS1='inner\$ '"
wait_screen "inner\$" && pass "interactive bash starts under mirrord" || fail "no inner prompt"
type_line "curl -s http://backend/; echo \"token=\$SECRET_TOKEN host=\$(hostname)\""
wait_screen "token=pod-only-secret-42 host=$SANDBOX_NAME-pod-7d9f" && pass "the shell has the pod's env and hostname" || fail "env/hostname"
screen | grep -qF "hello from backend; you are 10.77.0.2" && pass "curl inside the shell reaches the cluster" || fail "curl inside the shell"

type_line "sleep 100"
sleep 1
tmux send-keys -t "$SESSION" C-c
type_line "echo after-sleep=\$?"
wait_screen "after-sleep=130" && pass "Ctrl-C interrupts the foreground job" || fail "Ctrl-C"

type_line "sleep 101"
sleep 1
tmux send-keys -t "$SESSION" C-z
wait_screen "Stopped" && pass "Ctrl-Z stops the job" || fail "Ctrl-Z"
type_line "fg"
sleep 0.5
tmux send-keys -t "$SESSION" C-c
type_line "echo after-fg=\$?"
wait_screen "after-fg=130" && pass "fg resumes it and Ctrl-C ends it" || fail "fg"

type_line "exit 5"
wait_screen "OUTER-RC=5" && pass "the shell's exit code comes back" || fail "exit code"

# A plain program (not a shell) under mirrord, stopped with Ctrl-Z in the outer shell.
type_line "\"$MIRRORD\" exec --target pid/$POD_PID -- sleep 102"
sleep 1.5
tmux send-keys -t "$SESSION" C-z
wait_screen "Stopped" && pass "Ctrl-Z stops mirrord and its program together" || fail "outer Ctrl-Z"
type_line "jobs -l | grep -c Stopped; ps -o stat= -C sleep"
wait_screen "t" && pass "the program is stopped too" || fail "program not stopped"
type_line "fg"
sleep 0.5
tmux send-keys -t "$SESSION" C-c
type_line "echo SLEEP-RC=\$?"
wait_screen "SLEEP-RC=130" && pass "fg + Ctrl-C" || fail "outer fg"
finish
