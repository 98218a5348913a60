#!/usr/bin/env bash
# Two servers, three workers on a9a: accuracy >= 0.84, every key on some
# server, each worker read its own partition.
. "$(dirname "$0")/common.inc"
launch_ok run --set cluster.servers=2 --set cluster.workers=3
assert_min "$ACC" 0.84 "accuracy"
# a9a uses feature ids 1..123 plus the bias key: 124 keys across the servers.
keys=$(jq -r '[.servers[].keys] | "\(length) \(add)"' "$WORK/run/metrics.json")
[ "$keys" = "2 124" ] || fail "servers/keys: got '$keys', want '2 124'"
jq -e '.balance.keys_max >= .balance.keys_min' "$WORK/run/metrics.json" > /dev/null ||
  fail "no balance in metrics"
total=0
for r in 0 1 2; do
  n=$(sed -n "s/^\[worker $r\] loaded partition $r\/3 of .*: \([0-9]*\) examples.*/\1/p" "$WORK/run.log")
  [ -n "$n" ] || fail "worker $r did not report its partition"
  total=$((total + n))
done
[ "$total" -eq 32561 ] || fail "partitions hold $total examples, want 32561"
ok "2 servers + 3 workers: accuracy $ACC"
