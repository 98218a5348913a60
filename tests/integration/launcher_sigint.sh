#!/usr/bin/env bash
# Ctrl-C (SIGINT) to the launcher stops every process it started.
. "$(dirname "$0")/common.inc"
start_training_launch 0
log=$LOG
launcher=$LAUNCHER
kill -INT $launcher
for ((i = 0; i < 150; i++)); do kill -0 $launcher 2>/dev/null || break; sleep 0.1; done
if kill -0 $launcher 2>/dev/null; then kill -9 $launcher; fail "launcher ignored SIGINT for 15 s"; fi
wait $launcher
rc=$?
[ $rc -ne 0 ] || fail "interrupted launch exited 0"
grep -q "interrupted" "$log" || fail "no interruption message"
assert_all_gone "$log"
ok "SIGINT stopped the cluster (exit $rc)"
