#!/usr/bin/env bash
# What a run leaves in output.dir: config.yaml (every setting, defaults
# filled in, loadable as a config), one log per process in logs/, the
# per-epoch series (metrics.csv, metrics.json "epochs"), and after a second
# run the first run's outputs in previous/.
. "$(dirname "$0")/common.inc"
out="$WORK/run"
launch_ok first --set output.dir="$out" --set training.epochs=2
for f in launch scheduler server-0 server-1 worker-0 worker-1; do
  [ -s "$out/logs/$f.log" ] || { ls -l "$out/logs"; fail "no log $out/logs/$f.log"; }
done
grep -qE '^20[0-9-]+T[0-9:.]+Z info saved model to ' "$out/logs/worker-0.log" ||
  { cat "$out/logs/worker-0.log"; fail "worker 0's log lacks its time-stamped lines"; }
grep -q "info listening on tcp://" "$out/logs/scheduler.log" || fail "scheduler log"
grep -q "info serving shard 1 of 2" "$out/logs/server-1.log" || fail "server 1 log"
grep -q "test accuracy" "$out/logs/launch.log" || fail "launch log lacks the summary"
for field in "servers: 2" "node_timeout: 10" "vnodes: 256" "epochs: 2" "max_bad_lines: 1000" \
             "dir: \"$out\""; do
  grep -q "^  $field" "$out/config.yaml" || { cat "$out/config.yaml"; fail "config.yaml lacks '$field'"; }
done
ok "logs and config.yaml written"
# One row per epoch, in order, with every worker's examples (a9a: 32561).
[ "$(head -1 "$out/metrics.csv")" = "epoch,seconds,samples,train_loss" ] || fail "metrics.csv header"
[ "$(wc -l < "$out/metrics.csv")" -eq 3 ] || { cat "$out/metrics.csv"; fail "metrics.csv rows"; }
awk -F, 'NR > 1 && ($1 != NR - 1 || $3 != 32561 || $4 <= 0 || $4 > 1) { exit 1 }' "$out/metrics.csv" ||
  { cat "$out/metrics.csv"; fail "metrics.csv rows"; }
[ "$(jq '.epochs | length' "$out/metrics.json")" -eq 2 ] || fail "metrics.json epochs"
[ "$(jq '.epochs[1].epoch' "$out/metrics.json")" -eq 2 ] || fail "metrics.json epochs order"
ok "metrics.csv and metrics.json hold one row per epoch"
# config.yaml is a complete config: a run from it trains the same way.
timeout 120 "$PARASOL" launch "$out/config.yaml" --set output.dir="$WORK/again" > "$WORK/again.log" 2>&1 ||
  { cat "$WORK/again.log"; fail "config.yaml does not load as a config"; }
cmp <(grep -v '^  dir:' "$out/config.yaml") <(grep -v '^  dir:' "$WORK/again/config.yaml") ||
  fail "a run from config.yaml resolved other settings"
ok "config.yaml reloads to the same settings"
# A second run into the same directory: the first run's outputs move aside.
launch_ok second --set output.dir="$out" --set training.epochs=1
grep -q "epochs: 2" "$out/previous/config.yaml" || fail "previous/config.yaml is not the first run's"
grep -q "epochs: 1" "$out/config.yaml" || fail "config.yaml is not the second run's"
[ -s "$out/previous/logs/worker-0.log" ] && [ -f "$out/previous/model.bin" ] || fail "first run's outputs not in previous/"
[ "$(grep -c 'info listening on' "$out/logs/scheduler.log")" -eq 1 ] || fail "logs/ mixes two runs"
[ "$(wc -l < "$out/previous/metrics.csv")" -eq 3 ] && [ "$(wc -l < "$out/metrics.csv")" -eq 2 ] ||
  fail "metrics.csv of the first run not in previous/"
[ -s "$out/previous/curves.png" ] || fail "the first run's curves.png not in previous/"
grep -q "moved 7 outputs of an earlier run to $out/previous" "$WORK/second.log" || fail "the move was not logged"
ok "an earlier run's outputs kept in previous/"
