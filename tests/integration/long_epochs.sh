#!/usr/bin/env bash
# A run of more than a minute whose epochs are each longer than
# cluster.heartbeat: one worker, minibatches of one example, so an epoch of
# a9a is 32 561 pull/push round trips. Progress messages are rarer than
# heartbeats and the whole run outlasts cluster.node_timeout several times.
. "$(dirname "$0")/common.inc"
args=(--set cluster.workers=1 --set training.batch=1)
epochs_for 85 2 "${args[@]}"
out="$WORK/run"
timeout 280 "$PARASOL" launch examples/a9a.yaml "${args[@]}" --set training.epochs=$EPOCHS \
  --set training.log_every=10 --set output.dir="$out" > "$WORK/run.log" 2>&1 ||
  { tail -30 "$WORK/run.log"; fail "a long run with long epochs failed"; }
assert_all_gone "$WORK/run.log"
secs=$(train_seconds "$out")
per=$(awk -v s="$secs" -v e="$EPOCHS" 'BEGIN { printf "%.2f", s / e }')
echo "trained $EPOCHS epochs of batch 1 in $secs s ($per s per epoch)"
assert_min "$secs" 60 "training time (the test must run over a minute)"
assert_min "$per" 1 "seconds per epoch (epochs must outlast cluster.heartbeat)"
assert_min "$(json_num "$out/metrics.json" test accuracy)" 0.84 "accuracy"
ok "$EPOCHS long epochs over $secs s"
