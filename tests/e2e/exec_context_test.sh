#!/bin/bash
# The program sees the pod's environment and hostname; config files, filters and flags work.
source "$(dirname "$0")/lib.sh"
sandbox_up
POD_HOST="$SANDBOX_NAME-pod-7d9f"

out=$(HOME=/home/local-user mirrord_exec -- sh -c 'echo "$SECRET_TOKEN|$POD_NAME|$HOME|$PATH"' 2>&1)
check_eq "pod env merged; HOME and PATH stay local" "pod-only-secret-42|$POD_HOST|/home/local-user|$PATH" "$out"
out=$(mirrord_exec -- sh -c 'hostname; uname -n; cat /etc/hostname; cat /proc/sys/kernel/hostname' 2>&1 | sort -u)
check_eq "hostname, uname, /etc/hostname, /proc/sys/kernel/hostname" "$POD_HOST" "$out"
out=$(mirrord_exec -- python3 -c 'import socket; print(socket.gethostname())' 2>&1)
check_eq "python gethostname" "$POD_HOST" "$out"

cat >"$WORK/env.json" <<JSON
{"feature": {"env": {"include": "SECRET_*;APP_MODE", "override": {"APP_MODE": "debug"}}, "hostname": false}}
JSON
out=$(mirrord_exec -f "$WORK/env.json" -- sh -c 'echo "$SECRET_TOKEN|$APP_MODE|${POD_NAME:-unset}"; hostname' 2>&1)
check_eq "env include + override; hostname feature off" "pod-only-secret-42|debug|unset
$(hostname)" "$out"

cat >"$WORK/env.toml" <<TOML
[feature.env]
exclude = ["SECRET_TOKEN"]
unset = ["LOCAL_SECRET"]
TOML
out=$(LOCAL_SECRET=x mirrord_exec -f "$WORK/env.toml" -- sh -c 'echo "${SECRET_TOKEN:-unset}|${LOCAL_SECRET:-unset}|$APP_MODE"' 2>&1)
check_eq "toml config: exclude and unset" "unset|unset|production" "$out"

cat >"$WORK/env.yaml" <<YAML
feature:
  env: false
YAML
out=$(mirrord_exec -f "$WORK/env.yaml" -- sh -c 'echo "${SECRET_TOKEN:-unset}"' 2>&1)
check_eq "yaml config: env disabled" "unset" "$out"
out=$(MIRRORD_OVERRIDE_ENV_VARS_INCLUDE=POD_NAME mirrord_exec -- sh -c 'echo "${SECRET_TOKEN:-unset}|$POD_NAME"' 2>&1)
check_eq "MIRRORD_OVERRIDE_ENV_VARS_INCLUDE" "unset|$POD_HOST" "$out"

# DNS off: names resolve locally (the cluster name does not exist here).
out=$(mirrord_exec --no-remote-dns -- curl -sS -m 5 http://backend/ 2>&1 || true)
check_contains "--no-remote-dns: the cluster name is unknown" "Could not resolve host" "$out"
out=$(mirrord_exec --no-remote-dns -- curl -sS -m 5 http://10.77.0.10/ 2>&1 || true)
check_contains "--no-remote-dns: addresses still go out from the pod" "hello from backend; you are 10.77.0.2" "$out"

# Localhost: by default the pod's own localhost (as mirrord does); ignore_localhost keeps it here.
port=$(free_port)
mkdir -p "$WORK/www" && echo "local host server" >"$WORK/www/index.html"
background python3 -m http.server "$port" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
out=$(mirrord_exec -- curl -sS -m 5 "http://127.0.0.1:$port/" 2>&1 || true)
check_contains "localhost goes to the pod's localhost by default" "Failed to connect" "$out"
out=$(mirrord_exec -- curl -sS -m 5 http://127.0.0.1:80/ 2>&1 || true)
check_contains "the pod's localhost:80 is the pod's own app" "hello from the pod's own app" "$out"
echo '{"feature": {"network": {"outgoing": {"ignore_localhost": true}}}}' >"$WORK/ignore.json"
out=$(mirrord_exec -f "$WORK/ignore.json" -- curl -sS -m 5 "http://127.0.0.1:$port/" 2>&1 || true)
check_contains "ignore_localhost keeps localhost local" "local host server" "$out"

# Filters: only port 80 goes remote; everything else stays here.
echo '{"feature": {"network": {"outgoing": {"filter": {"remote": ["tcp://:80"]}}}}}' >"$WORK/remote80.json"
out=$(mirrord_exec -f "$WORK/remote80.json" -- sh -c "curl -sS -m 5 http://backend/; curl -sS -m 5 http://127.0.0.1:$port/" 2>&1 || true)
check_contains "filter.remote: port 80 goes out from the pod" "hello from backend; you are 10.77.0.2" "$out"
check_contains "filter.remote: other ports stay local" "local host server" "$out"
echo "{\"feature\": {\"network\": {\"outgoing\": {\"filter\": {\"local\": [\"127.0.0.1:$port\"]}}}}}" >"$WORK/local.json"
out=$(mirrord_exec -f "$WORK/local.json" -- sh -c "curl -sS -m 5 http://127.0.0.1:$port/; curl -sS -m 5 http://backend/" 2>&1 || true)
check_contains "filter.local: the listed address stays local" "local host server" "$out"
check_contains "filter.local: the rest goes out from the pod" "hello from backend; you are 10.77.0.2" "$out"
out=$(mirrord_exec --no-tcp-outgoing -- curl -sS -m 5 "http://127.0.0.1:$port/" 2>&1 || true)
check_contains "--no-tcp-outgoing" "local host server" "$out"

# Bad configuration is refused with the key's path, before anything runs.
echo '{"feature": {"network": {"outgoing": {"tcpp": false}}}}' >"$WORK/bad.json"
out=$(mirrord_exec -f "$WORK/bad.json" -- true 2>&1); rc=$?
check_contains "unknown key is named" "unknown key 'feature.network.outgoing.tcpp' (did you mean 'tcp'?)" "$out"
out=$("$MIRRORD" verify-config "$WORK/bad.json"); rc=$?
check_eq "verify-config fails on it" "1" "$rc"
check_contains "verify-config says why" '"type": "Fail"' "$out"
out=$("$MIRRORD" verify-config "$WORK/env.toml"); rc=$?
check_eq "verify-config accepts a good file" "0" "$rc"

# mirrord's CLI: short flags, -f without a value, MIRRORD_CONFIG_FILE, flags above env above file.
out=$(mirrord_exec -s 'SECRET_*' -- sh -c 'echo "$SECRET_TOKEN|${POD_NAME:-unset}"' 2>&1)
check_eq "-s (env include)" "pod-only-secret-42|unset" "$out"
out=$(mirrord_exec -x SECRET_TOKEN -- sh -c 'echo "${SECRET_TOKEN:-unset}|$POD_NAME"' 2>&1)
check_eq "-x (env exclude)" "unset|$POD_HOST" "$out"
mkdir -p "$WORK/project/.mirrord"
echo '{"feature": {"env": {"override": {"APP_MODE": "from-default-file"}}}}' >"$WORK/project/.mirrord/mirrord.json"
out=$(cd "$WORK/project" && "$MIRRORD" exec --target "pid/$POD_PID" -f -- sh -c 'echo $APP_MODE' 2>&1)
check_eq "-f without a value: ./.mirrord/mirrord.json" "from-default-file" "$out"
out=$(cd "$WORK/project" && "$MIRRORD" exec -f --target "pid/$POD_PID" sh -c 'echo $APP_MODE' 2>&1)
check_eq "... also before another option" "from-default-file" "$out"
out=$(MIRRORD_CONFIG_FILE=$WORK/env.json mirrord_exec -- sh -c 'echo "$APP_MODE"' 2>&1)
check_eq "MIRRORD_CONFIG_FILE" "debug" "$out"
out=$(MIRRORD_CONFIG_FILE=$WORK/env.json MIRRORD_OVERRIDE_ENV_VARS_INCLUDE=POD_NAME mirrord_exec -- sh -c 'echo "${SECRET_TOKEN:-unset}|$POD_NAME"' 2>&1)
check_eq "the environment above the file" "unset|$POD_HOST" "$out"
out=$(MIRRORD_OVERRIDE_ENV_VARS_INCLUDE=POD_NAME mirrord_exec -s 'SECRET_*' -- sh -c 'echo "$SECRET_TOKEN|${POD_NAME:-unset}"' 2>&1)
check_eq "flags above the environment" "pod-only-secret-42|unset" "$out"
out=$(MIRRORD_SKIP_PROCESSES=ls mirrord_exec -k mykey -- true 2>&1)
check_contains "an unimplemented variable is named in a warning" "MIRRORD_SKIP_PROCESSES is a mirrord setting this implementation ignores" "$out"
check_contains "... and an unimplemented flag" "--key is a mirrord setting this implementation ignores" "$out"
out=$(mirrord_exec -c=maybe -- true 2>&1); rc=$?
check_eq "-c=maybe is refused" "2" "$rc"
check_contains "... saying why" "takes true or false" "$out"

"$AGENT" --make-identity "$WORK/id.pem" >/dev/null
out=$("$MIRRORD" exec --agent tcp:127.0.0.1:99999 --agent-identity "$WORK/id.pem" --agent-fingerprint ab -- true 2>&1); rc=$?
check_eq "a bad agent port: exit status" "1" "$rc"
check_contains "... and a clear message, not an internal error" "is not IP:PORT" "$out"

# What went remote: --report at exit, --events as JSON lines as they happen, feature.report; each
# route with the rule that chose it.
echo '{"feature": {"fs": {"mode": "read", "local": ["x\\.cache$"]}}}' >"$WORK/rules.json"
out=$(mirrord_exec -f "$WORK/rules.json" --report --events "$WORK/events.jsonl" -- sh -c 'cat /app/config.yaml >/dev/null; cat /srv/x.cache 2>/dev/null; curl -sS http://backend/ >/dev/null; echo x >"$0"' "$WORK/here.txt" 2>&1)
check_matches "--report: files opened in the target, by the rule that sent them there" "^  files opened, remote \(read\), by feature.fs.mode read: [0-9]+$" "$out"
check_matches "... naming them" "^      /app/config.yaml$" "$out"
check_matches "... files kept here by mirrord's defaults, with the pattern" "^  files opened, local, by mirrord's default local paths '.*': [0-9]+$" "$out"
check_contains "... and by the user's feature.fs.local pattern" "  files opened, local, by feature.fs.local 'x\.cache\$': 1
      /srv/x.cache" "$out"
check_contains "... names asked of the target" "names asked, remote, by feature.network.dns" "$out"
check_contains "... outgoing connections by route, rule and destination" "outgoing connections, tcp, remote, by feature.network.outgoing: 1
      10.77.0.10:80" "$out"
out=$(python3 -c 'import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
print(sorted({(e["kind"], e["route"]) for e in events if e["subject"] in ("/app/config.yaml", "10.77.0.10:80", sys.argv[2])}))' \
    "$WORK/events.jsonl" "$WORK/here.txt")
check_eq "--events: the same, as JSON lines" "[('connection', 'tcp, remote'), ('fetched', 'remote'), ('file', 'local'), ('file', 'remote (read)')]" "$out"
out=$(python3 -c 'import json, sys
print([e.get("rule") for e in map(json.loads, open(sys.argv[1])) if e["subject"] == "/srv/x.cache"][0])' "$WORK/events.jsonl")
check_eq "... with the rule" "feature.fs.local 'x\.cache\$'" "$out"
echo '{"feature": {"report": true}}' >"$WORK/report.json"
check_contains "feature.report" "what this session did" "$(mirrord_exec -f "$WORK/report.json" -- cat /app/config.yaml 2>&1 >/dev/null)"
check_eq "no report unless asked" "" "$(mirrord_exec -- cat /app/config.yaml 2>&1 >/dev/null)"

# verify-config as mirrord prints it, --ide and --resolved included.
echo '{"target": {"path": {"deployment": "api", "container": "app"}, "namespace": "shop"}, "telemetry": false}' >"$WORK/target.json"
out=$("$MIRRORD" verify-config --ide "$WORK/target.json" | python3 -c '
import json, sys; d = json.load(sys.stdin)
print(d["type"], d["config"], d["warnings"], d["compatible_target_types"][:3], "resolved_config" in d)')
check_eq "verify-config --ide: mirrord's shape" "Success {'namespace': 'shop', 'path': {'container': 'app', 'deployment': 'api'}} [\"'telemetry' is a mirrord setting this implementation ignores\"] ['targetless', 'pod', 'deployment'] False" "$out"
"$MIRRORD" verify-config --resolved "$WORK/target.json" | python3 -c 'import json, sys; json.dump(json.load(sys.stdin)["resolved_config"], open(sys.argv[1], "w"))' "$WORK/resolved.json"
out=$("$MIRRORD" verify-config --resolved "$WORK/resolved.json" | python3 -c '
import json, sys; d = json.load(sys.stdin); r = d["resolved_config"]
print(d["type"], r["agent"]["startup_timeout"], r["feature"]["fs"]["mode"], r["feature"]["network"]["incoming"]["mode"], r == json.load(open(sys.argv[1])))' "$WORK/resolved.json")
check_eq "verify-config --resolved: every default, and it reads back the same" "Success 60 read mirror True" "$out"
# The program inherits what mirrord inherited (a shell's 3<file), and none of mirrord's own
# descriptors (its link to the agent, API and port-forward sockets).
native=$(ls /proc/self/fd 3</dev/null | sort | tr '\n' ' ')
traced=$(mirrord_exec -- ls /proc/self/fd 3</dev/null 2>&1 | sort | tr '\n' ' ')
check_eq "the program's descriptors are the ones it would have without mirrord" "$native" "$traced"

finish
