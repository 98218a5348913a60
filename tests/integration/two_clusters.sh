#!/usr/bin/env bash
# Two clusters on one machine at once: ephemeral ports everywhere, so they
# never collide, and both train to the usual accuracy.
. "$(dirname "$0")/common.inc"
launch_ok a --set cluster.workers=2 &
a=$!
launch_ok b --set cluster.workers=3 &
b=$!
wait $a || fail "cluster a failed"
wait $b || fail "cluster b failed"
for n in a b; do
  acc=$(json_num "$WORK/$n/metrics.json" test accuracy)
  assert_min "$acc" 0.84 "cluster $n accuracy"
done
ep_a=$(grep -o 'listening on tcp://[^ ]*' "$WORK/a.log")
ep_b=$(grep -o 'listening on tcp://[^ ]*' "$WORK/b.log")
[ -n "$ep_a" ] && [ "$ep_a" != "$ep_b" ] || fail "schedulers: '$ep_a' vs '$ep_b'"
ok "two concurrent clusters: $ep_a, $ep_b"
