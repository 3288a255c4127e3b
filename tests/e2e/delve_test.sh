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

# SIGTERM to mirrord while headless dlv waits for its client: it goes to dlv; the program ends with dlv.
port=$(free_port)
"$MIRRORD" exec --target "pid/$POD_PID" --dlv -- dlv exec --headless --listen="127.0.0.1:$port" --api-version=2 \
    "$GO_PROGRAM" -- /app/config.yaml >"$WORK/terminated.out" 2>&1 &
terminated=$!
wait_for_text "$WORK/terminated.out" "listening at" 10
# The processes that must end, named before the signal: a pattern looked up afterwards can also
# match a short-lived fork of the stand-in's mirrord (LeakSanitizer's tracer at its exit).
stand_in=$(pgrep -f -- "--gdbserver 127.0.0.1:.* -- $GO_PROGRAM")
must_end="$stand_in $(for p in $stand_in; do pgrep -P "$p"; done)"
check_matches "SIGTERM: the stand-in's mirrord and the program run" "^[0-9]+ [0-9 ]+$" "$(echo $must_end)"
kill -TERM "$terminated"
wait_bounded "$terminated" 30
check_eq "SIGTERM: mirrord ends with dlv's status" "143" "$?"
still() { for p in $must_end; do [ -d "/proc/$p" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ] && echo "$p"; done; }
for _ in $(seq 100); do [ -z "$(still)" ] && break; sleep 0.1; done
check_eq "SIGTERM: the stand-in's mirrord and the program end too" "" "$(for p in $(still); do tr '\0' ' ' <"/proc/$p/cmdline"; done)"

# What the stand-in refuses, and what it leaves behind.
ln -s "$MIRRORD" "$WORK/lldb-server"
out=$("$WORK/lldb-server" gdbserver :1234 -- /bin/true 2>&1); rc=$?
check_eq "the stand-in alone: refused" "1" "$rc"
check_contains "... saying how to use it" "mirrord exec [OPTIONS] --dlv -- dlv" "$out"
out=$(MIRRORD_LLDB_SERVER='{"exec":[],"path":""}' "$WORK/lldb-server" gdbserver --attach 42 :1234 2>&1); rc=$?
check_eq "attach: refused" "1" "$rc"
check_contains "... saying why" "cannot attach to a running process" "$out"
out=$("$MIRRORD" exec --target "pid/$POD_PID" --dlv --gdb -- dlv exec x 2>&1); rc=$?
check_eq "--dlv with --gdb: a usage error" "2" "$rc"
check_eq "the stand-in's directory is gone" "" "$(ls "$TMPDIR")"
finish
