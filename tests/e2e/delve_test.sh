#!/bin/bash
# Debugging a static Go program under mirrord with the real Delve, through `mirrord exec --dlv` and its
# lldb-server stand-in: dlv's own terminal, a headless dlv that a client connects to (GoLand's "Go
# Remote"), and dlv's DAP server driven as VS Code's Go extension drives it.
source "$(dirname "$0")/lib.sh"
sandbox_up
GO_PROGRAM=$PROGRAMS/go_gdb_target
GO_SOURCE=$ROOT/tests/programs/go_gdb_target.go
export TMPDIR=$WORK/tmp  # the stand-in's directory must be gone afterwards
mkdir -p "$TMPDIR"
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }  # dlv colours its listings

# dlv exec: its terminal, commands from --init; --backend=lldb is added by mirrord.
cat >"$WORK/session.init" <<'COMMANDS'
break main.process
continue
print content
next
next
print lines
continue
COMMANDS
timeout 90 "$MIRRORD" exec --target "pid/$POD_PID" --dlv -- dlv exec --allow-non-terminal-interactive=true \
    --init "$WORK/session.init" "$GO_PROGRAM" -- /app/config.yaml >"$WORK/dlv.out" 2>&1 </dev/null
rc=$?
out=$(plain "$WORK/dlv.out")
check_matches "dlv: the breakpoint is hit" "^> main\.process\(\) .*go_gdb_target\.go:10 \(hits goroutine\(1\):1 total:1\)" "$out"
check_contains "dlv: the Go string holds the pod's file, read through mirrord" '"# only the pod has this file\nservice: checkout' "$out"
check_matches "dlv: next" "^> main\.process\(\) .*go_gdb_target\.go:12 " "$out"
check_matches "dlv: print after next" "^5$" "$out"
check_contains "dlv: continue to the end, with the exit code" "has exited with status 5" "$out"
check_eq "mirrord exits with dlv's status" "0" "$rc"

# Headless dlv and a client connecting to it, as GoLand's "Go Remote" configuration does.
port=$(free_port)
"$MIRRORD" exec --target "pid/$POD_PID" --dlv -- dlv exec --headless --listen="127.0.0.1:$port" --api-version=2 \
    --accept-multiclient "$GO_PROGRAM" -- /app/config.yaml >"$WORK/headless.out" 2>&1 &
headless=$!
wait_for_text "$WORK/headless.out" "listening at" 10
{ cat "$WORK/session.init"; echo exit; } >"$WORK/remote.init"
echo y | timeout 60 dlv connect "127.0.0.1:$port" --allow-non-terminal-interactive=true --init "$WORK/remote.init" >"$WORK/connect.out" 2>&1
out=$(plain "$WORK/connect.out")
check_matches "headless: the client stops at the breakpoint" "^> main\.process\(\) .*go_gdb_target\.go:10 \(hits" "$out"
check_contains "headless: the pod's file" '"# only the pod has this file\nservice: checkout' "$out"
check_contains "headless: the program ends with its code" "has exited with status 5" "$out"
wait_bounded "$headless" 30
check_eq "headless: dlv and mirrord end when the client quits it" "0" "$?"

# VS Code's Go extension: dlv is the README's wrapper (go.alternateTools), run as `dlv dap`, and a DAP
# client does what the extension does (launch with "backend": "lldb").
cat >"$WORK/dlv-mirrord" <<WRAPPER
#!/bin/sh
exec "$MIRRORD" exec --target "pid/$POD_PID" --dlv -- dlv "\$@"
WRAPPER
chmod +x "$WORK/dlv-mirrord"
port=$(free_port)
"$WORK/dlv-mirrord" dap --listen="127.0.0.1:$port" >"$WORK/dap.out" 2>&1 &
dap=$!
wait_for_text "$WORK/dap.out" "listening at" 10
out=$(timeout 60 python3 "$ROOT/tests/programs/dap_client.py" "127.0.0.1:$port" "$GO_PROGRAM" "$GO_SOURCE" 11 /app/config.yaml 2>&1)
check_contains "DAP: the breakpoint is verified" "breakpoint verified: True" "$out"
check_contains "DAP: stopped at it" "stopped: breakpoint at main.process:11" "$out"
check_contains "DAP: the variable holds the pod's file" 'variable content = "# only the pod has this file\nservice: checkout' "$out"
check_contains "DAP: next" "stopped: step at main.process:12" "$out"
check_contains "DAP: the program runs to its end" "terminated" "$out"
wait_bounded "$dap" 30
check_eq "DAP: dlv ends with the session" "0" "$?"

# SIGTERM to mirrord running headless dlv goes to dlv, whose status mirrord ends with: 143 while
# dlv lets the signal kill it, 0 once it handles it (it asks the stand-in to kill the program, then
# kills the stand-in, whatever it left behind). mirrord ends after the stand-in (lldb-server
# gdbserver :P, then mirrord exec ... --gdbserver 127.0.0.1:P) and the program, and what they made in
# $TMPDIR is gone.
ending="gdbserver [^ ]*:[0-9]+ -- $GO_PROGRAM|^$GO_PROGRAM /app/config.yaml"
# sigterm_headless CASE READY: the signal once READY (a command) succeeds.
sigterm_headless() {
    local port terminated
    port=$(free_port)
    "$MIRRORD" exec --target "pid/$POD_PID" --dlv -- dlv exec --headless --listen="127.0.0.1:$port" --api-version=2 \
        "$GO_PROGRAM" -- /app/config.yaml >"$WORK/terminated.out" 2>&1 &
    terminated=$!
    for _ in $(seq 100); do "${@:2}" && break; sleep 0.1; done
    kill -TERM "$terminated"
    wait_bounded "$terminated" 40
    check_matches "$1: mirrord ends with dlv's status" "^(0|143)$" "$?"
    check_eq "$1: the stand-in's mirrord and the program ended before it" "" "$(pgrep -af -- "$ending")"
    check_eq "$1: what they made in \$TMPDIR is gone" "" "$(ls -A "$TMPDIR")"
}
sigterm_headless "SIGTERM as dlv starts" grep -q "listening at" "$WORK/terminated.out"
program_waits() { pgrep -f -- "^$GO_PROGRAM /app/config.yaml" >/dev/null && sleep 1; }
sigterm_headless "SIGTERM, the program waiting for the client" program_waits

# What the stand-in refuses, and what it leaves behind.
ln -s "$MIRRORD" "$WORK/lldb-server"
out=$("$WORK/lldb-server" gdbserver :1234 -- /bin/true 2>&1); rc=$?
check_eq "the stand-in alone: refused" "1" "$rc"
check_contains "... saying how to use it" "mirrord exec [OPTIONS] --dlv -- dlv" "$out"
out=$(MIRRORD_LLDB_SERVER='{"exec":[],"path":""}' "$WORK/lldb-server" gdbserver --attach 42 :1234 2>&1); rc=$?
check_eq "attach: refused" "1" "$rc"
check_contains "... saying why" "cannot attach to a running process" "$out"
# Adopted by mirrord --dlv (the wrapper), the debugger having ended before it started: it ends too.
out=$(sh -c 'MIRRORD_LLDB_SERVER="{\"exec\":[],\"path\":\"\",\"wrapper\":$$}" "$0" gdbserver :1234 -- /bin/true; echo "status $?"' \
    "$WORK/lldb-server" 2>&1)
check_contains "a stand-in whose debugger has ended: ends" "the debugger that started it has exited" "$out"
check_contains "... with a failure" "status 1" "$out"
out=$("$MIRRORD" exec --target "pid/$POD_PID" --dlv --gdb -- dlv exec x 2>&1); rc=$?
check_eq "--dlv with --gdb: a usage error" "2" "$rc"
check_eq "the stand-in's directory is gone" "" "$(ls -A "$TMPDIR")"
finish
