#!/usr/bin/env bash
# The walk-through of docs/lifecycle.md end to end, on a dirty CSV built
# from the bundled a9a (examples/adult/make-csv.sh): prep (every kind of
# dirt counted at its lines, the input untouched) -> launch with a
# validation split and early stopping -> eval on the test split -> predict
# on raw new rows (encoded with the model's recipe and transform) ->
# fine-tuning the model on the same splits.
. "$(dirname "$0")/common.inc"
MAKE=examples/adult/make-csv.sh
CFG=examples/adult/adult.yaml

# 1. The dirty table: fixed dirt at fixed rows.
"$MAKE" "$A9A" > "$WORK/adult.csv" || fail "make-csv.sh failed"
[ "$(head -1 "$WORK/adult.csv")" = "id,age,workclass,fnlwgt,education,education_num,marital_status,occupation,relationship,race,sex,capital_gain,capital_loss,hours_per_week,native_country,source,income" ] ||
  fail "adult.csv header: $(head -1 "$WORK/adult.csv")"
sum=$(sha256sum < "$WORK/adult.csv")

# 2. prep: each kind of dirt is counted, with the first lines the rules put it on.
P="$WORK/prep"
"$PARASOL" prep "$WORK/adult.csv" --label income --kind binary --ignore id --standardize \
  --shards 2 --out "$P" > "$WORK/prep.out" 2>&1 || { cat "$WORK/prep.out"; fail "prep failed"; }
[ "$(sha256sum < "$WORK/adult.csv")" = "$sum" ] || fail "prep changed its input"
J="$P/prep.json"
[ "$(jq .rows_in "$J")" -eq 32594 ] || fail "rows_in $(jq .rows_in "$J"), want 32561 + 33 duplicates"
for want in "ragged 22 38" "label 33 32" "infinite 54 30" "text 82 18" "duplicate 33 43" "missing 0 null"; do
  set -- $want
  [ "$(jq ".dropped.$1.count" "$J")" -eq "$2" ] || fail "$1: $(jq ".dropped.$1.count" "$J") rows, want $2"
  [ "$(jq ".dropped.$1.lines[0]" "$J")" = "$3" ] || fail "$1: first at line $(jq ".dropped.$1.lines[0]" "$J"), want $3"
  [ "$2" -eq 0 ] || grep -qE "^  $1 +$2  lines $3," "$WORK/prep.out" || fail "the summary does not show $1"
done
[ "$(jq .rows_out "$J")" -eq $((32594 - 224)) ] || fail "rows_out $(jq .rows_out "$J")"
jq -e '[.columns[] | select(.name == "source" and .kind == "dropped" and .why == "constant")] | length == 1' "$J" > /dev/null ||
  fail "the constant column is not dropped"
jq -e '[.columns[] | select(.name == "id" and .why == "ignored (--ignore)")] | length == 1' "$J" > /dev/null ||
  fail "id is not ignored"
# The age column's 155 missing cells ("" on 1 row in 211) are imputed, not dropped.
[ "$(jq '.columns[] | select(.name == "age") | .missing' "$J")" -gt 100 ] || fail "age's missing cells"
for s in train valid test; do
  [ -s "$P/$s/part-00000.psp" ] && [ -s "$P/$s/part-00001.psp" ] || fail "$s: 2 shards expected"
done
"$PARASOL" prep "$WORK/adult.csv" --label income --kind binary --out "$P" > "$WORK/again.out" 2>&1 &&
  fail "prep wrote into a non-empty directory without --force"
grep -q -- "--force" "$WORK/again.out" || fail "the refusal does not name --force"
ok "prep: 32594 rows in, 224 dropped by reason at the lines of the dirt, input untouched"

# 3. Training with the validation split and early stopping on log-loss.
R="$WORK/run"
timeout 240 "$PARASOL" launch $CFG --set output.dir="$R" --set data.train="$P/train" \
  --set data.valid="$P/valid" --set data.test="$P/test" > "$WORK/launch.log" 2>&1 ||
  { tail -20 "$WORK/launch.log"; fail "launch failed"; }
assert_all_gone "$WORK/launch.log"
acc=$(json_num "$R/metrics.json" test accuracy)
assert_min "$acc" 0.83 "test accuracy"
[ "$(json_num "$R/metrics.json" test n)" -eq "$(jq .splits.test.rows "$J")" ] || fail "test n"
[ "$(json_num "$R/metrics.json" valid n)" -eq "$(jq .splits.valid.rows "$J")" ] || fail "valid n"
rows=$(($(wc -l < "$R/metrics.csv") - 1))
best=$(jq .best_epoch "$R/metrics.json")
[ "$rows" -eq 40 ] || [ "$rows" -eq $((best + 3)) ] || fail "$rows epochs, best $best, patience 3"
grep -qE "^  features: $(jq .features "$J") " "$R/config.yaml" || fail "config.yaml does not record the shards' feature count"
[ "$(head -c 4 "$R/curves.png" | od -An -tx1 | tr -d ' \n')" = 89504e47 ] || fail "curves.png"
ok "launch: test accuracy $acc after $rows epochs (best $best)"

# 4. eval on the test split gives the run's figures.
"$PARASOL" eval "$R/model.bin" "$P/test" > "$WORK/eval.out" 2>&1 || { cat "$WORK/eval.out"; fail "eval failed"; }
got=$(sed -n 's/^accuracy //p' "$WORK/eval.out")
awk -v a="$got" -v b="$acc" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' ||
  fail "eval accuracy $got, metrics.json $acc"
ok "eval of the test split: accuracy $got"

# 5. predict on raw new rows (a9a.t's people, no income column): one line
# each, with the recipe and the standardization of the training split; the
# same rows with their labels evaluate to the accuracy of those predictions.
"$MAKE" "$A9AT" --clean --no-label > "$WORK/new.csv"
"$MAKE" "$A9AT" --clean > "$WORK/new-labelled.csv"
"$PARASOL" predict "$R/model.bin" "$WORK/new.csv" > "$WORK/pred" 2> "$WORK/pred.err" ||
  { cat "$WORK/pred.err"; fail "predict on raw CSV failed"; }
[ "$(wc -l < "$WORK/pred")" -eq 16281 ] || fail "predict printed $(wc -l < "$WORK/pred") lines"
pacc=$(paste -d' ' "$WORK/pred" <(tail -n +2 "$WORK/new-labelled.csv" | awk -F, '{ print $NF }') |
  awk '{ n++; if (($1 == 1) == ($3 == ">50K")) c++ } END { printf "%.6f", c / n }')
assert_min "$pacc" 0.83 "accuracy of predict on a9a.t's people"
"$PARASOL" eval "$R/model.bin" "$WORK/new-labelled.csv" > "$WORK/eval2.out" 2>&1 || fail "eval on raw CSV"
got=$(sed -n 's/^accuracy //p' "$WORK/eval2.out")
awk -v a="$got" -v b="$pacc" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' ||
  fail "eval on the raw CSV $got, predict's classes $pacc"
# New rows as dirty as the old: a missing cell, NA, an unseen category, and
# the columns in another order: still one prediction per row.
{ echo "income_unknown,workclass,age,id,fnlwgt,education,education_num,marital_status,occupation,relationship,race,sex,capital_gain,capital_loss,hours_per_week,native_country"
  echo "x,workclass-99,,1,NA,education-1,5,marital_status-3,occupation-9,relationship-4,race-1,sex-2,1,0,3,native_country-1"
  echo "x,?,3,2,2,education-4,2,marital_status-1,occupation-5,relationship-3,race-1,sex-2,0,0,5,native_country-77"
} > "$WORK/odd.csv"
"$PARASOL" predict "$R/model.bin" "$WORK/odd.csv" > "$WORK/odd.pred" 2> "$WORK/odd.err" ||
  { cat "$WORK/odd.err"; fail "predict on odd rows failed"; }
[ "$(wc -l < "$WORK/odd.pred")" -eq 2 ] || fail "odd rows: $(wc -l < "$WORK/odd.pred") predictions"
grep -q "odd.csv: 1 cells held categories unseen in training" "$WORK/odd.err" ||
  fail "the unseen category is not reported"
ok "predict on raw rows: 16281 predictions, accuracy $pacc (eval of the labelled rows agrees)"

# 6. Fine-tuning: the trained model on the same splits, at a lower rate.
F="$WORK/tuned"
timeout 240 "$PARASOL" launch $CFG --init "$R/model.bin" --set output.dir="$F" \
  --set data.train="$P/train" --set data.valid="$P/valid" --set data.test="$P/test" \
  --set optimizer.lr=0.01 --set training.epochs=3 > "$WORK/tune.log" 2>&1 ||
  { tail -20 "$WORK/tune.log"; fail "fine-tuning failed"; }
tacc=$(json_num "$F/metrics.json" test accuracy)
assert_min "$tacc" "$(awk -v a="$acc" 'BEGIN { print a - 0.01 }')" "fine-tuned accuracy"
first=$(awk -F, 'NR == 2 { print $4 }' "$F/metrics.csv")
fresh=$(awk -F, 'NR == 2 { print $4 }' "$R/metrics.csv")
awk -v a="$first" -v b="$fresh" 'BEGIN { exit !(a < b) }' ||
  fail "fine-tuning's first epoch loss $first is not below a fresh run's $fresh"
ok "fine-tuned from model.bin: first-epoch loss $first (fresh: $fresh), accuracy $tacc"
