#!/usr/bin/env bash
# data.format prepared (issue 9, section 1): training on the shards
# `parasol prep` writes, with model.features taken from their header;
# 2 workers over 2 shards (one each) and over 3 shards (N >= W: 2 + 1);
# eval and predict on a prepared split; a config that disagrees with the
# header, or names no split, refused; and a model of prepared CSV data
# predicting on the raw CSV through its recipe and its standardization.
. "$(dirname "$0")/common.inc"

# conf NAME TRAIN [MORE YAML LINES] : a config training logistic on TRAIN.
conf() {
  cat > "$WORK/$1.yaml" <<EOF
cluster:   { servers: 1, workers: 2, scheduler: "tcp://127.0.0.1:0", bind: 127.0.0.1 }
model:     { type: logistic }
optimizer: { type: adagrad, lr: 0.1, l2: 0.0001 }
training:  { epochs: 3, batch: 256, seed: 1 }
data:      { train: $2, format: prepared${3:-} }
output:    { dir: $WORK/$1 }
EOF
}

run_ok() { # run_ok NAME : launch $WORK/NAME.yaml, ACC = its test accuracy
  timeout 120 "$PARASOL" launch "$WORK/$1.yaml" > "$WORK/$1.log" 2>&1 ||
    { tail -20 "$WORK/$1.log"; fail "$1: launch failed"; }
  assert_all_gone "$WORK/$1.log"
  ACC=$(json_num "$WORK/$1/metrics.json" test accuracy)
}

for n in 2 3; do
  "$PARASOL" prep "$A9A" --format libsvm --shards $n --split 0.8,0.1,0.1 --out "$WORK/p$n" \
    > "$WORK/p$n.prep.log" 2>&1 || { cat "$WORK/p$n.prep.log"; fail "prep of $n shards"; }
  [ -f "$WORK/p$n/train/part-0000$((n - 1)).psp" ] || fail "prep wrote no shard $((n - 1))"
  conf a$n "$WORK/p$n/train" ", valid: $WORK/p$n/valid, test: $WORK/p$n/test"
  run_ok a$n
  assert_min "$ACC" 0.82 "logistic on $n prepared shards, 2 workers"
  grep -q "features: 124" "$WORK/a$n/config.yaml" || fail "config.yaml lacks the shards' features"
  # each worker read its own shards: all rows together, none twice
  rows=$(jq .total_rows "$WORK/p$n/prep.json" 2>/dev/null)
  got=$(sed -n 's/.*loaded partition [01]\/2 of .*: \([0-9]*\) examples.*/\1/p' "$WORK/a$n.log" |
        awk '{ s += $1 } END { print s }')
  train=$(grep -o 'train [0-9]*' "$WORK/p$n.prep.log" | head -1 | cut -d' ' -f2)
  [ "$got" = "$train" ] || fail "$n shards: the workers loaded $got rows, the split has $train"
  # eval and predict on the prepared test split, as they are
  "$PARASOL" eval "$WORK/a$n/model.bin" "$WORK/p$n/test" > "$WORK/a$n.eval" 2>&1 ||
    { cat "$WORK/a$n.eval"; fail "eval on a prepared split"; }
  want=$(json_num "$WORK/a$n/metrics.json" test accuracy)
  got=$(sed -n 's/^accuracy //p' "$WORK/a$n.eval")
  awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' ||
    fail "eval accuracy $got on the test split, the run's $want"
  "$PARASOL" predict "$WORK/a$n/model.bin" "$WORK/p$n/test" > "$WORK/a$n.pred" ||
    fail "predict on a prepared split"
  test_rows=$(grep -o 'test [0-9]*' "$WORK/p$n.prep.log" | head -1 | cut -d' ' -f2)
  [ "$(wc -l < "$WORK/a$n.pred")" -eq "$test_rows" ] || fail "predict: $(wc -l < "$WORK/a$n.pred") lines, $test_rows rows"
  ok "$n shards: accuracy $ACC; eval and predict on the test split"
done

# A config that disagrees with the header, or names no split: refused at once.
conf bad "$WORK/p2/train"
"$PARASOL" launch "$WORK/bad.yaml" --set model.features=200 > "$WORK/bad.log" 2>&1 &&
  fail "model.features 200 against 124 accepted"
grep -q "model.features is 200, but the shards of $WORK/p2/train (data.train) hold 124 features" \
  "$WORK/bad.log" || { cat "$WORK/bad.log"; fail "disagreeing model.features: message"; }
"$PARASOL" launch "$WORK/bad.yaml" --set data.train="$WORK" > "$WORK/bad2.log" 2>&1 &&
  fail "a directory without shards accepted"
grep -q "data.train=$WORK: $WORK is not a prepared split (no part-00000.psp); run parasol prep first" \
  "$WORK/bad2.log" || { cat "$WORK/bad2.log"; fail "not a split: message"; }
"$PARASOL" launch "$WORK/bad.yaml" --set data.standardize=true > "$WORK/bad3.log" 2>&1 &&
  fail "data.standardize on prepared data accepted"
grep -q "prepared data is standardized by parasol prep" "$WORK/bad3.log" || fail "standardize message"
ok "disagreeing features, a directory without shards, standardize: refused"

# A raw CSV: x in 0..100 (label: x > 50) and a colour category; prepared
# with --standardize. predict on the raw CSV encodes it with the model's
# recipe and standardizes it with the model's transform (without it every
# raw x would read as far above the mean, and half the labels go wrong).
awk 'BEGIN { srand(7); print "x,colour,y"; split("red green blue", c, " ");
             for (i = 0; i < 3000; i++) { x = rand() * 100; printf "%.3f,%s,%d\n", x, c[1 + i % 3], (x > 50) } }' \
  > "$WORK/raw.csv"
"$PARASOL" prep "$WORK/raw.csv" --format csv --label y --standardize --shards 2 --out "$WORK/pc" \
  > "$WORK/pc.log" 2>&1 || { cat "$WORK/pc.log"; fail "prep of the CSV"; }
conf c "$WORK/pc/train" ", test: $WORK/pc/test"
sed -i 's/epochs: 3/epochs: 10/; s/lr: 0.1/lr: 0.5/' "$WORK/c.yaml"
run_ok c
assert_min "$ACC" 0.9 "logistic on the prepared CSV"
"$PARASOL" predict "$WORK/c/model.bin" "$WORK/raw.csv" > "$WORK/c.pred" 2> "$WORK/c.pred.err" ||
  { cat "$WORK/c.pred.err"; fail "predict on the raw CSV"; }
[ "$(wc -l < "$WORK/c.pred")" -eq 3000 ] || fail "predict on the raw CSV: $(wc -l < "$WORK/c.pred") lines"
right=$(tail -n +2 "$WORK/raw.csv" | cut -d, -f3 | paste -d' ' - "$WORK/c.pred" |
        awk '$1 == $2 { r++ } END { print r / NR }')
assert_min "$right" 0.9 "predict on the raw CSV through the recipe and the transform"
ok "raw CSV through the model's recipe and transform: accuracy $right"

# Rating triples (parasol prep --format ratings) keep their (user, item)
# pairs: mf trains on the prepared splits and beats the global mean; a
# model of features refuses them, naming both.
awk 'BEGIN { for (u = 1; u <= 80; u++) for (i = 1; i <= 60; i++) if ((u * 7 + i * 3) % 4 != 0) {
               r = 3 + ((u % 5) - 2) * 0.5 + ((i % 7) - 3) * 0.3; r = int(r + 0.5);
               r = r < 1 ? 1 : r > 5 ? 5 : r; printf "%d\t%d\t%d\t0\n", u, i, r } }' > "$WORK/r.data"
"$PARASOL" prep "$WORK/r.data" --format ratings --shards 2 --out "$WORK/pr" > "$WORK/pr.log" 2>&1 ||
  { cat "$WORK/pr.log"; fail "prep of ratings"; }
cat > "$WORK/mf.yaml" <<EOC
cluster:   { servers: 2, workers: 2 }
model:     { type: mf, rank: 4 }
optimizer: { type: sgd, lr: 1, l2: 0.0001 }
training:  { epochs: 30, batch: 64, seed: 1 }
data:      { format: prepared, train: $WORK/pr/train, test: $WORK/pr/test }
output:    { dir: $WORK/mf }
EOC
timeout 120 "$PARASOL" launch "$WORK/mf.yaml" > "$WORK/mf.log" 2>&1 || { tail "$WORK/mf.log"; fail "mf on prepared ratings"; }
rmse=$(json_num "$WORK/mf/metrics.json" test rmse)
base=$(jq -r '.splits.test.rows' "$WORK/pr/prep.json")
[ "$(json_num "$WORK/mf/metrics.json" test n)" -eq "$base" ] || fail "mf: test n"
# The global mean's RMSE on the test split, for comparison.
mean_rmse=$(awk -F'\t' '{ s += $3; q += $3 * $3; n++ } END { m = s / n; print sqrt(q / n - m * m) }' "$WORK/r.data")
awk -v a="$rmse" -v b="$mean_rmse" 'BEGIN { exit !(a < 0.7 * b) }' ||
  fail "mf on prepared ratings: rmse $rmse, the global mean's is about $mean_rmse"
"$PARASOL" eval "$WORK/mf/model.bin" "$WORK/pr/test" > "$WORK/mf.eval" || fail "eval of mf on the test split"
got=$(sed -n 's/^rmse //p' "$WORK/mf.eval")
awk -v a="$got" -v b="$rmse" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' || fail "mf eval $got vs $rmse"
timeout 60 "$PARASOL" launch examples/a9a.yaml --set data.format=prepared --set data.train="$WORK/pr/train" \
  --set data.test= --set model.features=81 --set output.dir="$WORK/wrong" > "$WORK/wrong.log" 2>&1 &&
  fail "logistic regression on rating pairs accepted"
grep -q "hold rating pairs (parasol prep --format ratings), model.type logistic trains on feature rows" \
  "$WORK/wrong.log" || { tail "$WORK/wrong.log"; fail "the layout refusal does not say why"; }
ok "mf on prepared ratings: rmse $rmse (the global mean: $mean_rmse); logistic refuses them"

# Fine-tuning mf from its model (training.init): the embeddings, biases and
# the global mean come from the model, so a few epochs at a small rate
# start where it ended (first epoch's loss well below a fresh run's) and
# end no worse.
timeout 120 "$PARASOL" launch "$WORK/mf.yaml" --init "$WORK/mf/model.bin" --set output.dir="$WORK/mf2" \
  --set optimizer.lr=0.1 --set training.epochs=3 > "$WORK/mf2.log" 2>&1 ||
  { tail "$WORK/mf2.log"; fail "fine-tuning mf"; }
grep -q "the servers hold the model of $WORK/mf/model.bin" "$WORK/mf2/logs/worker-0.log" ||
  fail "worker 0 does not say it loaded the model"
rmse2=$(json_num "$WORK/mf2/metrics.json" test rmse)
awk -v a="$rmse2" -v b="$rmse" 'BEGIN { exit !(a <= b + 0.01) }' || fail "fine-tuned mf rmse $rmse2, from $rmse"
first=$(awk -F, 'NR == 2 { print $4 }' "$WORK/mf2/metrics.csv")
fresh=$(awk -F, 'NR == 2 { print $4 }' "$WORK/mf/metrics.csv")
awk -v a="$first" -v b="$fresh" 'BEGIN { exit !(a < b / 2) }' ||
  fail "fine-tuned mf's first-epoch loss $first is not well below a fresh run's $fresh"
ok "mf fine-tuned from its model: first-epoch loss $first (fresh: $fresh), rmse $rmse2"
