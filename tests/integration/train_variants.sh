#!/usr/bin/env bash
# The other storage layout and optimizer end to end, and the in-flight bound:
# (a) dense layout (model split into one contiguous range per server, held
#     as arrays) with AdaGrad; (b) hashed sparse keys with plain SGD and one
#     push in flight at most; (c) SGD under a cosine learning-rate schedule
#     with warm-up over the run's ~650 global steps. All must reach 0.84 on
#     a9a.t.
. "$(dirname "$0")/common.inc"
field_sum() { # metrics field -> "count sum" over servers
  jq -r --arg f "$2" '[.servers[][$f]] | "\(length) \(add)"' "$1"
}
inflight() { jq '[.workers[].max_inflight] | max' "$1"; }

launch_ok dense --set model.layout=dense --set cluster.servers=2 --set cluster.workers=2
# 123 features + the bias = 125 keys, split 63 / 62, all in dense arrays.
[ "$(field_sum "$WORK/dense/metrics.json" dense_keys)" = "2 125" ] || fail "dense keys: $(field_sum "$WORK/dense/metrics.json" dense_keys)"
[ "$(field_sum "$WORK/dense/metrics.json" sparse_keys)" = "2 0" ] || fail "dense run used the hash table"
jq -e '[.servers[].keys] | sort == [62, 63]' "$WORK/dense/metrics.json" > /dev/null ||
  fail "dense ranges not split 63/62"
m=$(inflight "$WORK/dense/metrics.json")
[ "$m" -le 4 ] && [ "$m" -ge 2 ] || fail "max in flight $m with training.inflight=4"
assert_min "$ACC" 0.84 "dense accuracy"
ok "dense layout + adagrad: accuracy $ACC, max in flight $m"

launch_ok sgd --set optimizer.type=sgd --set optimizer.lr=0.5 --set training.inflight=1 \
  --set cluster.servers=2 --set cluster.workers=2
grep -q "(sgd, hashed keys)" "$WORK/sgd.log" || fail "servers did not run SGD"
m=$(inflight "$WORK/sgd/metrics.json")
[ "$m" = "1" ] || fail "max in flight $m with training.inflight=1"
assert_min "$ACC" 0.84 "sgd accuracy"
ok "sparse layout + sgd: accuracy $ACC, max in flight $m"

# 5 epochs x 128 minibatches of 256 over a9a's 32561 rows, plus a partial
# one per worker per epoch: 650 global steps.
launch_ok cosine --set optimizer.type=sgd --set optimizer.lr=0.5 --set optimizer.schedule=cosine \
  --set optimizer.warmup=20 --set optimizer.cosine_steps=650 --set optimizer.min_lr_fraction=0.01 \
  --set cluster.servers=2 --set cluster.workers=2
grep -q "learning rate: schedule cosine, warm-up 20 steps" "$WORK/cosine.log" ||
  fail "servers did not log the cosine schedule"
assert_min "$ACC" 0.84 "cosine accuracy"
ok "sgd + cosine schedule with warm-up: accuracy $ACC"
