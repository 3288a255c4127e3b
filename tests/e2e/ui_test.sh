#!/bin/bash
# mirrord ui: a local page with the live events of running sessions, rendered by headless Chromium
# (Debian's), which must show a session's remote file, name and connection, and the rule behind a
# local one; the page refuses requests without the printed token, and listens on 127.0.0.1 only.
source "$(dirname "$0")/lib.sh"
sandbox_up
start_agent
export MIRRORD_UI_DIR=$WORK/ui
UI_PORT=$(free_port)
"$MIRRORD" ui --port "$UI_PORT" >"$WORK/ui.out" 2>"$WORK/ui.err" &
UI_PID=$!
BACKGROUND_PIDS+=("$UI_PID")
wait_for_text "$WORK/ui.out" "http://" 5
url=$(grep -o 'http://[^ ]*' "$WORK/ui.out")
check_matches "mirrord ui prints its URL, with a token" "^http://127\.0\.0\.1:$UI_PORT/\?token=[0-9a-f]{32}$" "$url"
check_eq "... and listens on 127.0.0.1 only" "127.0.0.1:$UI_PORT" "$(ss -ltnH "sport = :$UI_PORT" | awk '{print $4}')"
check_eq "without the token: refused" "403" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$UI_PORT/")"
check_eq "with another token: refused" "403" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$UI_PORT/events?token=00")"
check_eq "under another host name (DNS rebinding): refused" "403" \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: evil.example:$UI_PORT" "$url")"

# A session that keeps running while the page looks: its events after the ui found it.
echo '{"feature": {"fs": {"mode": "read", "local": ["x\\.cache$"]}}}' >"$WORK/rules.json"
"$MIRRORD" exec --agent "$AGENT_ADDR" -f "$WORK/rules.json" -- sh -c 'sleep 1.5; cat /app/config.yaml >/dev/null; cat /srv/x.cache 2>/dev/null
    curl -sS http://backend/ >/dev/null; touch "$0"; exec sleep 30' "$WORK/session-did-it" >"$WORK/session.out" 2>&1 &
SESSION_PID=$!
BACKGROUND_PIDS+=("$SESSION_PID")
for _ in $(seq 100); do [ -e "$WORK/session-did-it" ] && break; sleep 0.1; done
sleep 0.5
events=$(curl -s "${url/\/\?/\/events?}")
check_contains "the session's events reach the ui: a pod file" '"subject":"/app/config.yaml"' "$events"
check_contains "... a connection through the pod" '"subject":"10.77.0.10:80"' "$events"

# The page itself, as a browser renders it.
CHROMIUM=(chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/chromium" --virtual-time-budget=4000)
dom=$("${CHROMIUM[@]}" --dump-dom "$url" 2>/dev/null)
check_contains "Chromium shows the running session" "running" "$dom"
check_contains "... its command" "sleep 1.5; cat /app/config.yaml" "$dom"
check_contains "... the pod file it read" '<td class="subject">/app/config.yaml</td>' "$dom"
check_contains "... the backend it reached through the pod" '<td class="subject">10.77.0.10:80</td>' "$dom"
check_contains "... and the rule that kept a file local" "feature.fs.local 'x\\.cache\$'" "$dom"
"${CHROMIUM[@]}" --window-size=1200,800 --screenshot="$WORK/ui.png" "$url" >/dev/null 2>&1
check_eq "a screenshot of the page" "PNG" "$(head -c 4 "$WORK/ui.png" 2>/dev/null | tail -c 3)"
cp "$WORK/ui.png" /tmp/ui-last.png 2>/dev/null

kill "$SESSION_PID"
wait "$SESSION_PID" 2>/dev/null
for _ in $(seq 100); do [[ "$(curl -s "${url/\/\?/\/events?}")" == *'"live":false'* ]] && break; sleep 0.1; done
check_contains "a session that ended is shown as ended" '"live":false' "$(curl -s "${url/\/\?/\/events?}")"
check_eq "... and its feed is gone" "" "$(ls "$MIRRORD_UI_DIR")"
kill -INT "$UI_PID"
wait_bounded "$UI_PID" 5
check_eq "mirrord ui ends on Ctrl-C" "0" "$?"
finish
