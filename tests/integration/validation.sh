#!/usr/bin/env bash
# Validation and early stopping (issue 9, section 2): with data.valid, worker 0
# evaluates the model at the end of each epoch (every training.eval_every)
# while no worker pushes; the figures go into metrics.csv (valid_* columns),
# metrics.json (each epoch's "valid", the kept model's "valid") and the logs.
# training.early_stop stops every worker once the metric has not improved
# for training.patience evaluations: model.bin is the best model,
# model.last.bin the last.
. "$(dirname "$0")/common.inc"
TES=data/optdigits/optdigits.tes

# 1. Early stopping on log-loss, validated on optdigits.tes.
timeout 120 "$PARASOL" launch examples/optdigits-softmax.yaml --set output.dir="$WORK/es" \
  --set data.valid=$TES --set training.early_stop=logloss --set training.patience=2 \
  --set training.epochs=100 > "$WORK/es.log" 2>&1 || { tail -20 "$WORK/es.log"; fail "early-stop run failed"; }
assert_all_gone "$WORK/es.log"
rows=$(($(wc -l < "$WORK/es/metrics.csv") - 1))
best=$(jq .best_epoch "$WORK/es/metrics.json")
[ "$rows" -lt 100 ] || fail "early stopping did not stop: $rows epochs"
[ "$rows" -eq $((best + 2)) ] || fail "stopped after $rows epochs, best $best, patience 2"
head -1 "$WORK/es/metrics.csv" | grep -qx "epoch,seconds,samples,train_loss,valid_accuracy,valid_top5,valid_logloss" ||
  fail "metrics.csv header: $(head -1 "$WORK/es/metrics.csv")"
grep -q "early stopping after epoch $rows" "$WORK/es.log" || fail "the stop is not logged"
# The best epoch has the lowest validation log-loss of the series.
low=$(awk -F, 'NR > 1 && ($7 < m || m == "") { m = $7; e = $1 } END { print e }' "$WORK/es/metrics.csv")
[ "$low" -eq "$best" ] || fail "best_epoch $best, lowest valid_logloss at epoch $low"
[ -s "$WORK/es/model.bin" ] && [ -s "$WORK/es/model.last.bin" ] || fail "model.bin / model.last.bin"
cmp -s "$WORK/es/model.bin" "$WORK/es/model.last.bin" && fail "model.bin is the last model"
# model.bin is the best: its log-loss on the validation file is the kept "valid" one.
"$PARASOL" eval "$WORK/es/model.bin" $TES > "$WORK/es.eval" 2>&1 || fail "eval of model.bin"
want=$(jq .valid.logloss "$WORK/es/metrics.json")
got=$(sed -n 's/^logloss //p' "$WORK/es.eval")
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  fail "model.bin's validation logloss $got, metrics.json's valid $want"
ok "early stopping: $rows epochs, best $best (valid logloss $want), model.bin is the best"
# The launcher drew the curves of the run: a PNG of 900 x 600 (IHDR).
png="$WORK/es/curves.png"
[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "curves.png is not a PNG"
[ "$(od -An -tu1 -j16 -N8 "$png" | tr -s ' ' | sed 's/^ //')" = "0 0 3 132 0 0 2 88" ] ||
  fail "curves.png is not 900 x 600: $(od -An -tu1 -j16 -N8 "$png")"
grep -q "valid_logloss" "$WORK/es/curves.gp" || fail "curves.gp does not draw valid_logloss"
ok "curves.png drawn: 900 x 600, with the validation curve"

# 2. Every 2nd epoch, no early stopping: empty cells between evaluations.
timeout 120 "$PARASOL" launch examples/a9a.yaml --set output.dir="$WORK/every2" \
  --set data.valid="$A9AT" --set training.eval_every=2 --set training.epochs=5 \
  > "$WORK/every2.log" 2>&1 || { tail -20 "$WORK/every2.log"; fail "eval_every run failed"; }
awk -F, 'NR == 1 { if ($5 != "valid_accuracy") exit 1; next }
         { if (($1 % 2 == 0 || $1 == 5) != ($5 != "")) exit 1 }' "$WORK/every2/metrics.csv" ||
  { cat "$WORK/every2/metrics.csv"; fail "evaluations not on epochs 2, 4 and 5"; }
[ ! -e "$WORK/every2/model.last.bin" ] || fail "model.last.bin without early stopping"
[ "$(jq '[.epochs[] | select(.valid)] | length' "$WORK/every2/metrics.json")" -eq 3 ] ||
  fail "metrics.json epochs with valid"
acc=$(jq .valid.accuracy "$WORK/every2/metrics.json")
assert_min "$acc" 0.84 "a9a validation accuracy"
ok "eval_every 2: evaluations at epochs 2, 4, 5; valid accuracy $acc"

# 3. A metric the model does not have is refused at the first evaluation.
timeout 120 "$PARASOL" launch examples/a9a.yaml --set output.dir="$WORK/nometric" \
  --set data.valid="$A9AT" --set training.early_stop=rmse > "$WORK/nometric.log" 2>&1 &&
  fail "early_stop on rmse for logistic regression succeeded"
grep -q "training.early_stop: rmse is not among the validation metrics of model.type logistic" \
  "$WORK/nometric.log" || { tail "$WORK/nometric.log"; fail "no message for the missing metric"; }
assert_all_gone "$WORK/nometric.log"
ok "early_stop on a metric the model lacks: refused by name"

# 4. The validation set held out of the training file (data.valid_fraction),
# as examples/optdigits-mlp.yaml does it, with early_stop written as a
# mapping {metric, patience}: the validation rows are nobody's training rows,
# the test set is still the whole test file.
timeout 180 "$PARASOL" launch examples/optdigits-mlp.yaml --set output.dir="$WORK/frac" \
  > "$WORK/frac.log" 2>&1 || { tail -20 "$WORK/frac.log"; fail "valid_fraction run failed"; }
assert_all_gone "$WORK/frac.log"
vn=$(jq .valid.n "$WORK/frac/metrics.json")
[ "$vn" -gt 300 ] && [ "$vn" -lt 460 ] || fail "valid_fraction 0.1 of 3823 rows held out $vn"
grep -q "the validation set: $vn examples held out of data/optdigits/optdigits.tra (data.valid_fraction 0.1)" \
  "$WORK/frac/logs/worker-0.log" || fail "worker 0 does not log the held-out validation set"
for w in 0 1; do
  grep -q "standardized 64 features over $((3823 - vn)) training examples" "$WORK/frac/logs/worker-$w.log" ||
    fail "worker $w did not train on the 3823 - $vn rows left"
done
[ "$(awk -F, 'NR == 2 { print $3 }' "$WORK/frac/metrics.csv")" -eq $((3823 - vn)) ] ||
  fail "epoch 1 samples are not the $((3823 - vn)) training rows"
[ "$(jq .test.n "$WORK/frac/metrics.json")" -eq 1797 ] || fail "test set is not optdigits.tes"
assert_min "$(jq .test.accuracy "$WORK/frac/metrics.json")" 0.93 "optdigits mlp with early stopping"
rows=$(($(wc -l < "$WORK/frac/metrics.csv") - 1))
best=$(jq .best_epoch "$WORK/frac/metrics.json")
[ "$rows" -eq 30 ] || [ "$rows" -eq $((best + 5)) ] || fail "stopped after $rows epochs, best $best, patience 5"
ok "valid_fraction 0.1: $vn validation rows out of training, $rows epochs (best $best)"
