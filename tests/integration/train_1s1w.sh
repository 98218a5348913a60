#!/usr/bin/env bash
# One server, one worker on a9a: test accuracy >= 0.84; predict and eval agree.
. "$(dirname "$0")/common.inc"
out="$WORK/run"
timeout 120 "$PARASOL" launch examples/a9a.yaml --set cluster.servers=1 --set cluster.workers=1 \
  --set output.dir="$out" > "$WORK/log" 2>&1 || { cat "$WORK/log"; fail "launch exited $?"; }
acc=$(json_num "$out/metrics.json" test accuracy)
echo "accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.84) }' || fail "accuracy $acc < 0.84"
grep -q '^\[launch\] test accuracy' "$WORK/log" || fail "launcher printed no metrics"
grep -q '^\[worker 0\] epoch 5/5' "$WORK/log" || fail "no progress lines"
"$PARASOL" predict "$out/model.bin" "$A9AT" > "$WORK/pred" || fail "predict failed"
[ "$(wc -l < "$WORK/pred")" -eq 16281 ] || fail "predict printed $(wc -l < "$WORK/pred") lines"
awk '$1 < 0 || $1 > 1 { exit 1 }' "$WORK/pred" || fail "probability out of [0,1]"
# Accuracy recomputed from predict's output must match metrics.json.
acc2=$(paste -d' ' "$WORK/pred" <(cut -d' ' -f1 "$A9AT") |
  awk '{ p = $1 >= 0.5; y = $2 > 0; c += (p == y) } END { printf "%.4f", c / NR }')
awk -v a="$acc" -v b="$acc2" 'BEGIN { d = a - b; exit !(d < 0.0001 && d > -0.0001) }' ||
  fail "predict accuracy $acc2 != metrics $acc"
"$PARASOL" eval "$out/model.bin" "$A9AT" | grep -q "^accuracy 0.8" || fail "eval output"
assert_all_gone "$WORK/log"
ok "1 server + 1 worker: accuracy $acc"
