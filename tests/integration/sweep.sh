#!/usr/bin/env bash
# parasol sweep: a 2x2 grid on a9a runs to completion, two clusters at a
# time, ranked best first with sweep.json/sweep.csv; a bad --grid is
# refused before anything runs; SIGINT stops every process it started.
. "$(dirname "$0")/common.inc"
out="$WORK/sw"

# ---- a full sweep ----
timeout 240 "$PARASOL" sweep examples/a9a.yaml --grid optimizer.lr=0.01,0.5 \
  --grid training.batch=64,256 --set training.epochs=1 --set output.dir="$out" \
  --parallel 2 > "$WORK/sweep.log" 2>&1 || { cat "$WORK/sweep.log"; fail "sweep failed"; }
assert_all_gone "$WORK/sweep.log"
for f in "$out"/sweep/*.log; do assert_all_gone "$f"; done
grep -q 'best first by test accuracy' "$WORK/sweep.log" || { cat "$WORK/sweep.log"; fail "no table title"; }
rows=$(grep -cE '^[1-4] +(0\.01|0\.5) +(64|256) +finished +0\.[0-9]{4}' "$WORK/sweep.log")
[ "$rows" = 4 ] || { cat "$WORK/sweep.log"; fail "table has $rows finished rows, want 4"; }
# Best first: the printed accuracies do not increase down the table.
grep -E '^[1-4] ' "$WORK/sweep.log" | awk 'NR > 1 && $5 > prev { exit 1 } { prev = $5 }' ||
  { cat "$WORK/sweep.log"; fail "table is not sorted by accuracy"; }
j="$out/sweep/sweep.json"
[ "$(jq '.runs | length' "$j")" = 4 ] || fail "sweep.json does not hold 4 runs"
[ "$(jq '[.runs[] | select(.status == "finished")] | length' "$j")" = 4 ] || fail "not 4 finished in sweep.json"
jq -e '[.runs[].metrics.accuracy] as $a | $a == ($a | sort | reverse)' "$j" > /dev/null ||
  fail "sweep.json is not best first"
[ "$(jq -r '.runs | map(.name) | sort | join(" ")' "$j")" = \
  "lr=0.01,batch=256 lr=0.01,batch=64 lr=0.5,batch=256 lr=0.5,batch=64" ] || fail "run names"
for d in $(jq -r '.runs[].dir' "$j"); do
  [ "$(metrics_status "$d/metrics.json")" = finished ] || fail "$d did not finish"
done
# Each run's settings reached its cluster.
[ "$(jq -r '.runs[] | select(.name == "lr=0.5,batch=64") | .dir' "$j" | xargs -I{} grep -c 'batch: 64' {}/config.yaml)" = 1 ] ||
  fail "batch=64 not in that run's config.yaml"
[ "$(wc -l < "$out/sweep/sweep.csv")" = 5 ] || fail "sweep.csv: want a header and 4 rows"
head -1 "$out/sweep/sweep.csv" | grep -q '^rank,name,optimizer.lr,training.batch,status,accuracy' ||
  fail "sweep.csv header: $(head -1 "$out/sweep/sweep.csv")"
ok "2x2 sweep: 4 runs ranked, sweep.json and sweep.csv"

# ---- a bad --grid key: exit 2, named, nothing started ----
"$PARASOL" sweep examples/a9a.yaml --grid optimizer.lrr=0.1,0.2 --set output.dir="$WORK/bad" \
  > "$WORK/bad.log" 2>&1
rc=$?
[ $rc = 2 ] || { cat "$WORK/bad.log"; fail "bad --grid key exited $rc, want 2"; }
grep -q -- "--grid optimizer.lrr=0.1,0.2: .*unknown field 'optimizer.lrr'" "$WORK/bad.log" ||
  { cat "$WORK/bad.log"; fail "no message naming the bad --grid"; }
[ ! -e "$WORK/bad/sweep" ] || fail "a refused sweep created its directory"
ok "bad --grid key refused with exit 2"

# ---- a failed run: listed with its reason after the others, exit 1 ----
timeout 120 "$PARASOL" sweep examples/a9a.yaml --grid model.features=10,124 \
  --set training.epochs=1 --set output.dir="$WORK/fail" > "$WORK/fail.log" 2>&1
rc=$?
[ $rc = 1 ] || { cat "$WORK/fail.log"; fail "sweep with a failing run exited $rc, want 1"; }
grep -qE '^2 +10 +failed .*index >= features' "$WORK/fail.log" ||
  { cat "$WORK/fail.log"; fail "the failed run is not last with its reason"; }
[ "$(jq -r '.runs[1].status + " " + .runs[0].status' "$WORK/fail/sweep/sweep.json")" = "failed finished" ] ||
  fail "sweep.json: want the finished run first, the failed one after"
ok "a failed run is listed last with its reason, exit 1"

# ---- SIGINT stops every launcher and every role ----
log="$WORK/int.log"
"$PARASOL" sweep examples/a9a.yaml --grid optimizer.lr=0.01,0.5 --grid training.batch=64,256 \
  --set training.epochs=100000 --set output.dir="$WORK/int" --parallel 2 > "$log" 2>&1 &
sweep=$!
BG_PIDS+=($sweep)
for n in "lr=0.01,batch=64" "lr=0.01,batch=256"; do
  wait_for_line "$WORK/int/sweep/$n.log" '^\[worker 0\] epoch 1/' 60 ||
    { cat "$log" "$WORK/int/sweep/$n.log"; fail "run $n never started training"; }
done
kill -INT $sweep
wait_gone $sweep 60 || { kill -9 $sweep; fail "sweep ignored SIGINT for 60 s"; }
wait $sweep
rc=$?
[ $rc = 130 ] || { cat "$log"; fail "interrupted sweep exited $rc, want 130"; }
grep -q 'interrupted' "$log" || fail "no interruption message"
[ "$(grep -c '^\[sweep\] started' "$log")" = 2 ] || { cat "$log"; fail "want exactly 2 runs started"; }
assert_all_gone "$log"
for f in "$WORK"/int/sweep/*.log; do
  grep -q 'started worker 1' "$f" || fail "$f: launcher log lacks its role pids"
  assert_all_gone "$f"
done
ok "SIGINT stopped every launcher and role (exit $rc)"
