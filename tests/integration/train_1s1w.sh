#!/usr/bin/env bash
# One server, one worker on a9a: test accuracy >= 0.84; predict and eval agree;
# the scheduler, the launcher and `parasol eval` print the same digits.
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
"$PARASOL" eval "$out/model.bin" "$A9AT" > "$WORK/eval.out" 2> "$WORK/eval.err" || fail "eval failed"
grep -q "^accuracy 0.8" "$WORK/eval.out" || fail "eval output"
# One rendering of the test metrics: the scheduler's last line (from the
# doubles worker 0 sent), the launcher's (from metrics.json) and eval's.
sched=$(sed -n 's/^\[scheduler\] test \(accuracy .* (16281 examples)\)$/\1/p' "$WORK/run.log")
launch=$(sed -n 's/^\[launch\] test \(accuracy .* (16281 examples)\) -> .*/\1/p' "$WORK/run.log")
evald=$(sed -n 's/^parasol eval: \(accuracy .*\)$/\1/p' "$WORK/eval.err")
echo "scheduler: $sched"
echo "launcher:  $launch"
echo "eval:      $evald"
[[ "$sched" =~ ^accuracy\ 0\.[0-9]{4}\ \ logloss\ 0\.[0-9]{4}\ \ auc\ 0\.[0-9]{4}\ \ \( ]] ||
  fail "scheduler line: '$sched'"
[ "$launch" = "$sched" ] || fail "launcher '$launch' != scheduler '$sched'"
[ "$evald" = "$sched" ] || fail "eval '$evald' != scheduler '$sched'"
ok "1 server + 1 worker: accuracy $ACC"
