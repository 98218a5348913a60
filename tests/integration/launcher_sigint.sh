#!/usr/bin/env bash
# Ctrl-C (SIGINT) to the launcher stops every process it started.
. "$(dirname "$0")/common.inc"
log="$WORK/log"
"$PARASOL" launch examples/a9a.yaml --set training.epochs=100000 \
  --set output.dir="$WORK/run" > "$log" 2>&1 &
launcher=$!
wait_for_line "$log" '^\[worker 0\] epoch 1/' 60 || { kill -9 $launcher; cat "$log"; fail "training never started"; }
kill -INT $launcher
for ((i = 0; i < 150; i++)); do kill -0 $launcher 2>/dev/null || break; sleep 0.1; done
if kill -0 $launcher 2>/dev/null; then kill -9 $launcher; fail "launcher ignored SIGINT for 15 s"; fi
wait $launcher
rc=$?
[ $rc -ne 0 ] || fail "interrupted launch exited 0"
grep -q "interrupted" "$log" || fail "no interruption message"
assert_all_gone "$log"
ok "SIGINT stopped the cluster (exit $rc)"
