#!/bin/bash
# mirrord's tool commands besides exec: `diagnose latency` against a real agent, and completion
# scripts that bash, zsh and fish read and complete with.
source "$(dirname "$0")/lib.sh"
sandbox_up

out=$("$MIRRORD" diagnose latency -t "pid/$POD_PID" 2>&1); rc=$?
check_eq "diagnose latency: exit status" "0" "$rc"
check_matches "... min, max and average round trips to the agent" \
    "^Latency statistics: min=[0-9.]+ms, max=[0-9.]+ms, avg=[0-9.]+ms \(100 round trips to the agent\)$" "$out"
echo "{\"target\": \"pid/$POD_PID\"}" >"$WORK/target.json"
check_matches "... the target from the config file" "^Latency statistics" "$("$MIRRORD" diagnose latency -f "$WORK/target.json" 2>&1)"
out=$("$MIRRORD" diagnose latency -t pid/999999 2>&1); rc=$?
check_eq "... a target that does not exist: exit status" "1" "$rc"
check_contains "... and why" "no such process" "$out"

# bash: the function the script registers, called the way bash calls it.
"$MIRRORD" completions bash >"$WORK/mirrord.bash"
complete_bash() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mirrord; echo "${COMPREPLY[*]}"' \
        _ "$WORK/mirrord.bash" "$@"
}
check_eq "bash: subcommands" "exec" "$(complete_bash mirrord ex)"
check_eq "bash: exec's flags" "--target --target-namespace" "$(complete_bash mirrord exec --targ)"
check_contains "bash: short flags" "-s" "$(complete_bash mirrord exec -)"
touch "$WORK/my-config.json"
check_eq "bash: a file after -f" "$WORK/my-config.json" "$(complete_bash mirrord exec -f "$WORK/my-con")"
check_eq "bash: the program after the options" "curl" "$(complete_bash mirrord exec -t pod/x curl | tr ' ' '\n' | grep -x curl | sort -u)"
check_eq "bash: completions' shells" "zsh" "$(complete_bash mirrord completions z)"

# fish: its own completion engine, asked with complete -C.
"$MIRRORD" completions fish >"$WORK/mirrord.fish"
check_eq "fish: the script parses" "0" "$(fish --no-execute "$WORK/mirrord.fish" 2>&1; echo $?)"
out=$(fish -c "source $WORK/mirrord.fish; complete -C 'mirrord exec --targ'" 2>&1)
check_contains "fish: exec's flags" "--target" "$out"
check_contains "fish: subcommands" "diagnose" "$(fish -c "source $WORK/mirrord.fish; complete -C 'mirrord '" 2>&1)"

# zsh: parsed, and loaded by compinit without complaint.
"$MIRRORD" completions zsh >"$WORK/_mirrord"
check_eq "zsh: the script parses" "0" "$(zsh -n "$WORK/_mirrord" 2>&1; echo $?)"
out=$(zsh -c "fpath=($WORK \$fpath); autoload -Uz compinit; compinit -u -d $WORK/zcompdump; print \${_comps[mirrord]}" 2>&1)
check_eq "zsh: compinit registers it" "_mirrord" "$out"

out=$("$MIRRORD" completions tcsh 2>&1); rc=$?
check_eq "an unknown shell: exit status" "2" "$rc"
check_contains "... and usage" "bash|zsh|fish" "$out"
finish
