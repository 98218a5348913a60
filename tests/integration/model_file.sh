#!/usr/bin/env bash
# model.bin (format v3, docs/model-format.md) end to end:
# (a) sparse layout with model.features 50 000 000 (200 MB as a dense
#     array): the file holds only the stored keys, 12 bytes per key (u64 key,
#     one f32) beside a fixed part (header, settings, table header), and
#     `parasol eval` of it reaches 0.84 on a9a.t;
# (b) model.features 2^40 trains and saves the same way (worker 0 used to
#     calloc features + bias weights after training): the same fixed part
#     (5 bytes longer: the features setting has 5 more digits);
# (c) the dense layout stays dense: 4 x (features + bias) bytes of values;
# (d) a version-2 file is refused by `parasol eval`, naming both versions.
. "$(dirname "$0")/common.inc"
sum_keys() { jq '[.servers[].sparse_keys] | add' "$1"; }
size_of() { stat -c %s "$1"; }

launch_ok big --set model.features=50000000
keys=$(sum_keys "$WORK/big/metrics.json")
size=$(size_of "$WORK/big/model.bin")
[ "$keys" -ge 100 ] || fail "only $keys keys stored"
fixed=$((size - 12 * keys))
[ "$fixed" -gt 100 ] && [ "$fixed" -lt 2048 ] || fail "model.bin is $size bytes for $keys stored keys"
"$PARASOL" eval "$WORK/big/model.bin" "$A9AT" > "$WORK/eval.out" 2>&1 ||
  { cat "$WORK/eval.out"; fail "parasol eval failed"; }
acc=$(sed -n 's/^accuracy //p' "$WORK/eval.out")
assert_min "$acc" 0.84 "eval accuracy of the 50M-feature model"
ok "50M features, sparse: model.bin $size bytes for $keys keys, eval accuracy $acc"

launch_ok huge --set model.features=1099511627776 --set training.epochs=1
keys=$(sum_keys "$WORK/huge/metrics.json")
size=$(size_of "$WORK/huge/model.bin")
[ "$size" -eq $((fixed + 5 + 12 * keys)) ] ||
  fail "2^40 features: $size bytes for $keys keys (fixed part $fixed + 5 expected)"
ok "2^40 features, sparse: model.bin $size bytes"

launch_ok dense --set model.layout=dense --set training.epochs=1
size=$(size_of "$WORK/dense/model.bin")
# "dense" is 1 byte shorter than "sparse", "124" 5 shorter than "50000000"
[ "$size" -eq $((fixed - 6 + 4 * 125)) ] || fail "dense model.bin is $size bytes, want $((fixed - 6 + 500))"
ok "dense layout: model.bin $size bytes"

# The header of a version-2 file: the version is read before anything else.
printf 'PSLMODEL\002\000\000\000\001\000\000\000' > "$WORK/v2.bin"
if "$PARASOL" eval "$WORK/v2.bin" "$A9AT" > "$WORK/v2.out" 2>&1; then
  fail "a version-2 model was accepted"
fi
grep -q "$WORK/v2.bin: version 2 (written by an older Parasol): this Parasol reads versions 3 to 4; retrain" \
  "$WORK/v2.out" || { cat "$WORK/v2.out"; fail "version-2 refusal does not say why"; }
ok "version-2 file refused: $(head -1 "$WORK/v2.out")"
