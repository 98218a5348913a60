#!/usr/bin/env bash
# Fine-tuning (issue 9, section 4): `parasol launch CONFIG --init MODEL` starts
# from a trained model: worker 0 assigns its tables on the servers before any
# worker pulls, with fresh optimizer state; a model trained on standardized
# data brings its transform. A model of another type or shape, a truncated,
# corrupt or missing file is refused with a message naming the file and the
# problem, before any training.
. "$(dirname "$0")/common.inc"
TRA=data/optdigits/optdigits.tra
TES=data/optdigits/optdigits.tes
ONE=(--set training.epochs=1 --set training.log_every=0)
loss1() { awk -F, 'NR == 2 { print $4 }' "$1/metrics.csv"; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && d >= -t) }'; }

# 1. Model A: a9a, 1 epoch from scratch (also the fresh run to compare with).
launch_ok a "${ONE[@]}"
ACC_A=$ACC
A="$WORK/a/model.bin"
[ -s "$A" ] || fail "model A not written"

# 2. One more epoch from A with another learning rate: its first epoch's
# training loss is clearly below a fresh run's first epoch, and the model is
# at least as good as A (within a small tolerance).
launch_ok ft "${ONE[@]}" --init "$A" --set optimizer.lr=0.05
grep -q "the servers hold the model of $A (training.init: 1 table)" "$WORK/ft.log" ||
  fail "worker 0 did not log the load"
grep -q "^  init: \"$A\"" "$WORK/ft/config.yaml" || fail "config.yaml does not record training.init"
fresh=$(loss1 "$WORK/a") tuned=$(loss1 "$WORK/ft")
awk -v f="$fresh" -v t="$tuned" 'BEGIN { exit !(t < f - 0.01) }' ||
  fail "fine-tuned first-epoch loss $tuned is not clearly below a fresh run's $fresh"
assert_min "$ACC" "$(awk -v a="$ACC_A" 'BEGIN { print a - 0.005 }')" "fine-tuned accuracy (A: $ACC_A)"
ok "fine-tune from A: epoch 1 train_loss $tuned (fresh $fresh), accuracy $ACC (A $ACC_A)"

# 3. With a learning rate too small to move anything, the run keeps A's
# accuracy; from scratch the same run stays at the majority class.
launch_ok tiny "${ONE[@]}" --init "$A" --set optimizer.lr=1e-9
near "$ACC" "$ACC_A" 0.002 || fail "lr 1e-9 from A: accuracy $ACC, A's $ACC_A"
launch_ok scratch "${ONE[@]}" --set optimizer.lr=1e-9
awk -v a="$ACC" 'BEGIN { exit !(a < 0.78) }' || fail "lr 1e-9 from scratch: accuracy $ACC"
ok "lr 1e-9: from A accuracy $(json_num "$WORK/tiny/metrics.json" test accuracy), from scratch $ACC"

# 4. A standardized model (optdigits softmax) brings its transform: fine-tuned
# with data.standardize off and a tiny learning rate it keeps its accuracy,
# and the new model file carries the transform (eval reads raw data).
timeout 120 "$PARASOL" launch examples/optdigits-softmax.yaml --set output.dir="$WORK/s" \
  --set training.epochs=2 --set training.log_every=0 > "$WORK/s.log" 2>&1 ||
  { tail -20 "$WORK/s.log"; fail "optdigits softmax run failed"; }
S="$WORK/s/model.bin"
ACC_S=$(json_num "$WORK/s/metrics.json" test accuracy)
timeout 120 "$PARASOL" launch examples/optdigits-softmax.yaml --init "$S" --set output.dir="$WORK/s2" \
  --set data.standardize=false --set optimizer.lr=1e-9 "${ONE[@]}" > "$WORK/s2.log" 2>&1 ||
  { tail -20 "$WORK/s2.log"; fail "optdigits fine-tune failed"; }
grep -q "standardized 64 features with the transform of $S" "$WORK/s2.log" ||
  fail "the model's transform was not used"
acc=$(json_num "$WORK/s2/metrics.json" test accuracy)
near "$acc" "$ACC_S" 0.002 || fail "standardized fine-tune: accuracy $acc, the model's $ACC_S"
"$PARASOL" eval "$WORK/s2/model.bin" $TES > "$WORK/s2.eval" 2>&1 || fail "eval of the fine-tuned model"
near "$(sed -n 's/^accuracy //p' "$WORK/s2.eval")" "$acc" 0.0001 || fail "the new model lost the transform"
ok "standardized model: its transform used and kept (accuracy $acc, model's $ACC_S)"

# 5. Refusals: each exits non-zero before any training, naming the file and
# the problem. refused NAME STATUS REGEX CONFIG ARGS...
refused() {
  local name=$1 want=$2 re=$3 cfg=$4 st
  shift 4
  timeout 120 "$PARASOL" launch "$cfg" --set output.dir="$WORK/$name" "$@" > "$WORK/$name.log" 2>&1
  st=$?
  [ "$st" -ne 0 ] || fail "$name: launch succeeded"
  [ "$want" = any ] || [ "$st" -eq "$want" ] || { cat "$WORK/$name.log"; fail "$name: exit $st, want $want"; }
  grep -Eq -e "$re" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name: no message /$re/"; }
  grep -q "epoch 1/" "$WORK/$name.log" && fail "$name: training started"
  [ ! -e "$WORK/$name/model.bin" ] || fail "$name: a model was written"
  assert_all_gone "$WORK/$name.log"
  ok "$name refused: $(grep -Eo -e "$re" "$WORK/$name.log" | head -1)"
}
# Checked by the launcher, before it starts any process (exit status 2):
refused type 2 "--init $S: a softmax model, this config trains logistic \(model.type\)" \
  examples/a9a.yaml --init "$S"
refused features 2 "--init $A: table 'w' has 125 x 1 values, this config declares 201 x 1; model.features is '124' in the model, '200' in this config" \
  examples/a9a.yaml --init "$A" --set model.features=200
head -c 300 "$A" > "$WORK/truncated.bin"
refused truncated 2 "--init $WORK/truncated.bin: not a model this Parasol can load: truncated" \
  examples/a9a.yaml --init "$WORK/truncated.bin"
cp "$A" "$WORK/corrupt.bin"
printf '\x7f' | dd of="$WORK/corrupt.bin" bs=1 seek=400 conv=notrunc 2> /dev/null
refused corrupt 2 "--init $WORK/corrupt.bin: .*checksum mismatch" examples/a9a.yaml --init "$WORK/corrupt.bin"
refused missing 2 "training.init=$WORK/nope.bin: '$WORK/nope.bin': cannot open: No such file" \
  examples/a9a.yaml --init "$WORK/nope.bin"
timeout 120 "$PARASOL" launch examples/optdigits-softmax.yaml --set output.dir="$WORK/raw" \
  --set data.standardize=false "${ONE[@]}" > "$WORK/raw.log" 2>&1 || fail "unstandardized run failed"
refused unstandardized 2 "--init $WORK/raw/model.bin: the model was trained without standardization" \
  examples/optdigits-softmax.yaml --init "$WORK/raw/model.bin"
# Tables that depend on the data's shape (csv): worker 0 refuses before it joins.
refused classes any "--init $S: table 'w' has 65 x 10 values, this config declares 65 x 12; model.classes is '10' in the model, '12' in this config" \
  examples/optdigits-softmax.yaml --init "$S" --set model.classes=12

# 6. --init belongs to launch and worker only.
"$PARASOL" server examples/a9a.yaml --init "$A" > "$WORK/server.err" 2>&1 && fail "server took --init"
grep -q "'--init' is not an option of 'server'" "$WORK/server.err" || fail "server --init message"
"$PARASOL" worker --help | grep -q -- "--init MODEL" || fail "worker --help lacks --init"
"$PARASOL" launch examples/a9a.yaml --init a --init b > "$WORK/twice.err" 2>&1; [ $? -eq 2 ] ||
  fail "--init twice not refused"
ok "--init on launch and worker only, once"

# 7. A cnn (dense layers and convolution kernels, images): a small network
# trained one epoch, then fine-tuned at a negligible rate, keeps its
# accuracy (the tables, conv kernels included, are the model's).
CNN=(--set model.conv=4x5 --set model.hidden=16 --set training.epochs=1 --set training.batch=64)
timeout 180 "$PARASOL" launch examples/mnist-cnn.yaml "${CNN[@]}" --set output.dir="$WORK/cnn" \
  > "$WORK/cnn.log" 2>&1 || { tail "$WORK/cnn.log"; fail "cnn run failed"; }
c1=$(json_num "$WORK/cnn/metrics.json" test accuracy)
timeout 180 "$PARASOL" launch examples/mnist-cnn.yaml "${CNN[@]}" --init "$WORK/cnn/model.bin" \
  --set optimizer.lr=1e-9 --set output.dir="$WORK/cnn2" > "$WORK/cnn2.log" 2>&1 ||
  { tail "$WORK/cnn2.log"; fail "cnn fine-tuning failed"; }
c2=$(json_num "$WORK/cnn2/metrics.json" test accuracy)
awk -v a="$c1" -v b="$c2" 'BEGIN { d = a - b; exit !(d < 0.002 && d > -0.002 && a > 0.5) }' ||
  fail "cnn: trained $c1, fine-tuned at lr 1e-9 $c2"
ok "cnn fine-tuned at lr 1e-9 keeps its accuracy: $c1 -> $c2"
