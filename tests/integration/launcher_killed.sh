#!/usr/bin/env bash
# Even a launcher killed with SIGKILL (no chance to clean up) leaves no
# process behind: every child dies with it (PR_SET_PDEATHSIG).
. "$(dirname "$0")/common.inc"
start_training_launch 1
log=$LOG
launcher=$LAUNCHER
kill -9 $launcher
pids=$(sed -n 's/.*started .* (pid \([0-9]*\)).*/\1/p' "$log")
[ "$(echo "$pids" | wc -w)" -eq 5 ] || fail "expected 5 children, log names: $pids"
survivors=()
for p in $pids; do
  wait_gone "$p" 5 || survivors+=("$p")
done
if [ ${#survivors[@]} -gt 0 ]; then
  kill -9 "${survivors[@]}" 2>/dev/null
  fail "children ${survivors[*]} outlived the launcher"
fi
ok "all 5 children died with the launcher"
