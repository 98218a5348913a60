#!/usr/bin/env bash
# Validation and early stopping (issue 9, section 2): with data.valid, worker 0
# evaluates the model at the end of each epoch (every training.eval_every)
# while no worker pushes; the figures go into metrics.csv (valid_* columns),
# metrics.json (each epoch's "valid", the kept model's "valid") and the logs.
# training.early_stop stops every worker once the metric has not improved
# for training.patience evaluations: model.bin is the best model,
# model.last.bin the last. training.eval_steps adds evaluations inside
# epochs (sections 5 and 6).
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

# 5. training.eval_steps: evaluations inside epochs too. a9a, 2 workers,
# batch 256: the smaller partition has floor(32561 / 2) = 16280 rows, 64
# batches, so an epoch is 64 steps; every 20 steps gives steps 20, 40, 60
# in epoch 1 and 80, 100, 120 in epoch 2, plus the two epoch ends: 8.
timeout 120 "$PARASOL" launch examples/a9a.yaml --set output.dir="$WORK/steps" \
  --set data.valid="$A9AT" --set training.batch=256 --set training.eval_steps=20 \
  --set training.epochs=2 > "$WORK/steps.log" 2>&1 ||
  { tail -20 "$WORK/steps.log"; fail "eval_steps run failed"; }
assert_all_gone "$WORK/steps.log"
inside=$(grep -c '\[scheduler\] epoch [12] step [0-9]* validation: accuracy' "$WORK/steps.log")
ends=$(grep -c '\[scheduler\] epoch [12] validation: accuracy' "$WORK/steps.log")
[ "$inside" -eq 6 ] && [ "$ends" -eq 2 ] ||
  fail "eval_steps 20: $inside evaluations inside epochs and $ends at their ends logged, want 6 and 2"
for s in "1 20" "1 40" "1 60" "2 80" "2 100" "2 120"; do
  grep -q "\[scheduler\] epoch ${s% *} step ${s#* } validation: " "$WORK/steps.log" ||
    fail "no evaluation logged at epoch ${s% *} step ${s#* }"
done
[ "$(jq -c '[.evaluations[] | [.epoch, .step]]' "$WORK/steps/metrics.json")" = \
  "[[1,20],[1,40],[1,60],[1,0],[2,80],[2,100],[2,120],[2,0]]" ] ||
  fail "metrics.json evaluations: $(jq -c '[.evaluations[] | [.epoch, .step]]' "$WORK/steps/metrics.json")"
[ "$(jq '[.evaluations[] | select(.n == 16281 and .accuracy > 0.8)] | length' "$WORK/steps/metrics.json")" -eq 8 ] ||
  fail "metrics.json evaluations lack n or accuracy"
# metrics.csv: one row per epoch, its validation the epoch end's.
[ "$(($(wc -l < "$WORK/steps/metrics.csv") - 1))" -eq 2 ] || fail "metrics.csv rows with eval_steps"
[ "$(jq -c '[.evaluations[] | select(.step == 0) | .accuracy]' "$WORK/steps/metrics.json")" = \
  "$(jq -c '[.epochs[].valid.accuracy]' "$WORK/steps/metrics.json")" ] ||
  fail "the epochs' valid figures are not their ends' evaluations"
ok "eval_steps 20: 6 evaluations inside epochs (steps 20..120) and 2 at their ends, in log and metrics.json"

# 6. Early stopping inside an epoch: optdigits (3823 rows, 2 workers, batch
# 64: 30 steps an epoch), an evaluation every 7 steps, patience 1: the run
# stops at the first evaluation that is no better, before the epoch's end.
timeout 120 "$PARASOL" launch examples/optdigits-softmax.yaml --set output.dir="$WORK/esteps" \
  --set data.valid=$TES --set training.early_stop=logloss --set training.patience=1 \
  --set training.eval_steps=7 --set training.epochs=100 > "$WORK/esteps.log" 2>&1 ||
  { tail -20 "$WORK/esteps.log"; fail "early stop with eval_steps failed"; }
assert_all_gone "$WORK/esteps.log"
M="$WORK/esteps/metrics.json"
n=$(jq '.evaluations | length' "$M")
le=$(jq '.evaluations[-1].epoch' "$M")
ls=$(jq '.evaluations[-1].step' "$M")
[ "$ls" -gt 0 ] || fail "the run did not stop inside an epoch (last evaluation: epoch $le at its end)"
grep -q "\[scheduler\] early stopping in epoch $le step $ls " "$WORK/esteps.log" ||
  fail "the stop at epoch $le step $ls is not logged"
[ "$(($(wc -l < "$WORK/esteps/metrics.csv") - 1))" -eq "$le" ] || fail "metrics.csv rows after a stop in epoch $le"
# patience 1: the evaluation before the last is the best, and the lowest.
[ "$(jq -c '[.best_epoch, .best_step]' "$M")" = "$(jq -c '.evaluations[-2] | [.epoch, .step]' "$M")" ] ||
  fail "best $(jq -c '[.best_epoch, .best_step]' "$M") is not the evaluation before the stop"
[ "$(jq '[.evaluations[].logloss] | min' "$M")" = "$(jq '.valid.logloss' "$M")" ] ||
  fail "the kept valid logloss is not the lowest evaluation"
"$PARASOL" eval "$WORK/esteps/model.bin" $TES > "$WORK/esteps.eval" 2>&1 || fail "eval of model.bin"
want=$(jq .valid.logloss "$M")
got=$(sed -n 's/^logloss //p' "$WORK/esteps.eval")
awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }' ||
  fail "model.bin's validation logloss $got, the best evaluation's $want"
cmp -s "$WORK/esteps/model.bin" "$WORK/esteps/model.last.bin" && fail "model.bin is the last model"
ok "early stop inside epoch $le at step $ls after $n evaluations; model.bin is step $(jq .best_step "$M")'s"
