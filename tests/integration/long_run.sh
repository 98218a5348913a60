#!/usr/bin/env bash
# A run of more than a minute whose epochs are far shorter than
# cluster.heartbeat, with the default heartbeat and node_timeout: a9a
# epochs take a few milliseconds, so every worker sends progress much more
# often than heartbeats are due. Liveness must not depend on that traffic
# (it once did: every such run died after cluster.node_timeout, 10 s).
. "$(dirname "$0")/common.inc"
epochs_for 90 100
out="$WORK/run"
timeout 280 "$PARASOL" launch examples/a9a.yaml --set training.epochs=$EPOCHS \
  --set training.log_every=10 --set output.dir="$out" > "$WORK/run.log" 2>&1 ||
  { tail -30 "$WORK/run.log"; fail "a long run with short epochs failed"; }
assert_all_gone "$WORK/run.log"
secs=$(train_seconds "$out")
echo "trained $EPOCHS epochs in $secs s"
assert_min "$secs" 60 "training time (the test must run over a minute)"
assert_min "$(json_num "$out/metrics.json" test accuracy)" 0.84 "accuracy"
grep -q "silent for" "$WORK/run.log" && fail "a node was reported silent"
ok "$EPOCHS short epochs over $secs s"
