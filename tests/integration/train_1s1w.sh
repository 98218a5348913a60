#!/usr/bin/env bash
# One server, one worker on a9a: test accuracy >= 0.84; predict and eval agree.
. "$(dirname "$0")/common.inc"
launch_ok run --set cluster.servers=1 --set cluster.workers=1
out="$WORK/run"
assert_min "$ACC" 0.84 "accuracy"
grep -q 'test accuracy' "$WORK/run.log" || fail "launcher printed no metrics"
grep -q '^\[worker 0\] epoch 5/5' "$WORK/run.log" || fail "no progress lines"
"$PARASOL" predict "$out/model.bin" "$A9AT" > "$WORK/pred" || fail "predict failed"
[ "$(wc -l < "$WORK/pred")" -eq 16281 ] || fail "predict printed $(wc -l < "$WORK/pred") lines"
# "CLASS PROBABILITY" per line.
awk '$2 < 0 || $2 > 1 { exit 1 }' "$WORK/pred" || fail "probability out of [0,1]"
# Accuracy recomputed from predict's output must match metrics.json.
acc2=$(paste -d' ' "$WORK/pred" <(cut -d' ' -f1 "$A9AT") |
  awk '{ p = $1; y = $3 > 0; c += (p == y) } END { printf "%.4f", c / NR }')
awk -v a="$ACC" -v b="$acc2" 'BEGIN { d = a - b; exit !(d < 0.0001 && d > -0.0001) }' ||
  fail "predict accuracy $acc2 != metrics $ACC"
"$PARASOL" eval "$out/model.bin" "$A9AT" | grep -q "^accuracy 0.8" || fail "eval output"
ok "1 server + 1 worker: accuracy $ACC"
