#!/usr/bin/env bash
# The benchmark suite works (its figures are never asserted: tests assert
# correctness, benchmarks report speed): the report computes medians,
# same-run ratios and targets correctly and writes JSON rows; pb_kv drives
# real server processes and prints its rows; pb_store prints its rows;
# pb_gen writes a data set that
# parasol trains on.
. "$(dirname "$0")/common.inc"
BIN=$(dirname "$PARASOL")/bench
# 1. The report: median of 3 and 4 values, ratio, met / not met, JSON.
# (The model rows' ratios to PyTorch are checked in part 4.)
cat > "$WORK/rows" <<'ROWS'
ROW raw_zmq_tcp_gbps@4MiB 4 GB/s
ROW raw_zmq_tcp_gbps@4MiB 5 GB/s
ROW raw_zmq_tcp_gbps@4MiB 3 GB/s
ROW dense_pushpull_gbps@4MiB 3.5 GB/s
ROW dense_pushpull_gbps@4MiB 3.0 GB/s
ROW dense_pushpull_gbps@4MiB 4.0 GB/s
ROW dense_pushpull_gbps@4MiB 3.6 GB/s
ROW sparse_mkeys_s nan Mkeys/s
ROW sparse_mkeys_s 16 Mkeys/s
ROW a9a_seconds_to_0848 2.5 s
ROWS
"$SRC/bench/report.awk" -v json="$WORK/rows.json" -v machine=test "$WORK/rows" > "$WORK/report"
cat "$WORK/report"
grep -qE '^raw_zmq_tcp_gbps@4MiB +4 +3 - 5 \(3\)' "$WORK/report" || fail "median/min-max of 3"
grep -qE '^dense_pushpull_gbps@4MiB +3.55 +3 - 4 \(4\)' "$WORK/report" || fail "median of 4"
grep -qE '^dense_vs_raw_tcp@4MiB +0.887' "$WORK/report" || fail "same-run ratio"
grep -qE '^dense push\+pull @4MiB >= 0.80 x raw ZeroMQ tcp +0.887 .* met$' "$WORK/report" || fail "met target"
grep -qE '^sparse 100-key .* 16.0 .* met$' "$WORK/report" || fail "nan rows skipped in the median"
grep -qE '^a9a to 0.848 .* 2.5 .* NOT MET$' "$WORK/report" || fail "unmet target"
grep -qE '^bulk 1M-key .* n/a .* NOT MET$' "$WORK/report" || fail "missing figure shown as met"
grep -q '{"name": "dense_pushpull_gbps@4MiB", "value": 3.55, "unit": "GB/s", "min": 3, "max": 4, "runs": 4}' \
  "$WORK/rows.json" || fail "json row"
[ "$(head -c1 "$WORK/rows.json")" = "[" ] && [ "$(tail -c2 "$WORK/rows.json" | head -c1)" = "]" ] ||
  fail "json array"
ok "report"
# 2. pb_kv against real server processes: its 4 KiB rows, positive and finite.
BENCH_ONLY=4KiB BENCH_REPS=1 BENCH_QUICK=1 timeout 120 "$BIN/pb_kv" "$PARASOL" bench/bench.yaml \
  > "$WORK/kv" 2> "$WORK/kv.err" || { tail "$WORK/kv.err"; fail "pb_kv failed"; }
for row in dense_pushpull_gbps@4KiB dense_pushpull_gbps_2x2@4KiB; do
  v=$(sed -n "s/^ROW $row \([0-9.e+-]*\) GB\/s$/\1/p" "$WORK/kv")
  assert_min "${v:-0}" 0.000001 "$row"
done
ok "pb_kv rows"
# 2b. pb_store: the store's own rows, one per repetition, positive.
BENCH_REPS=2 BENCH_QUICK=1 timeout 120 "$BIN/pb_store" > "$WORK/store" 2> "$WORK/store.err" ||
  { tail "$WORK/store.err"; fail "pb_store failed"; }
for row in store_sparse_mkeys_s:Mkeys/s store_bulk_mkeys_s:Mkeys/s store_mf_ratings_s:ratings/s; do
  unit=${row#*:}
  row=${row%:*}
  [ "$(grep -c "^ROW $row " "$WORK/store")" -eq 2 ] || fail "$row: want 2 rows"
  v=$(sed -n "s|^ROW $row \([0-9.e+-]*\) $unit$|\1|p" "$WORK/store" | head -1)
  assert_min "${v:-0}" 0.000001 "$row"
done
ok "pb_store rows"
# 3. pb_gen output is valid LIBSVM that parasol trains on.
"$BIN/pb_gen" "$WORK/ctr.svm" --examples 3000 --features 5000 --nnz 10 --seed 3 2> "$WORK/gen.err" ||
  fail "pb_gen failed"
[ "$(wc -l < "$WORK/ctr.svm")" -eq 3000 ] || fail "pb_gen line count"
launch_ok ctr --set data.train="$WORK/ctr.svm" --set model.features=5000 --set data.test="$WORK/ctr.svm" \
  --set training.epochs=3 --set training.batch=100
sps=$(json_num "$WORK/ctr/metrics.json" train samples_per_s)
assert_min "$sps" 1 "samples/s"
assert_min "$ACC" 0.6 "accuracy on the synthetic set"
ok "pb_gen data trains: $ACC"

# 4. The models' rows (bench/models.inc): one launch per row at 1 server x
# 1 worker, each a positive rate; the PyTorch rows are a rate, or "nan"
# with the reason when python3-torch is not installed (./setup.sh
# reference); the report divides them into the same-run ratios.
B=$(dirname "$PARASOL")
QUICK=1
LOG="$WORK/models.log"
. "$SRC/bench/train.inc"
. "$SRC/bench/models.inc"
model_row() { # fewer epochs than bench/run: the rows only have to exist
  local name=$1 unit=$2 config=$3 out=$WORK/$1
  shift 4
  "$PARASOL" launch "$config" --set cluster.servers=1 --set cluster.workers=1 --set training.epochs=1 \
    --set output.dir="$out" "$@" >> "$LOG" 2>&1 || { tail "$LOG"; fail "$name: launch failed"; }
  echo "ROW $name $(json_field "$out/metrics.json" train samples_per_s) $unit"
}
B=$WORK model_rows > "$WORK/model-rows" 2> "$WORK/model-rows.err" || fail "model_rows failed"
cat "$WORK/model-rows" "$WORK/model-rows.err"
for row in mlp_examples_s@1x1 cnn_examples_s@1x1 mf_ratings_s@1x1; do
  v=$(sed -n "s/^ROW $row \([0-9.e+-]*\) [a-z/]*$/\1/p" "$WORK/model-rows" | head -1)
  assert_min "${v:-0}" 1 "$row"
done
for row in torch_mlp_examples_s torch_cnn_examples_s; do
  v=$(sed -n "s/^ROW $row \([0-9.e+na-]*\) examples\/s$/\1/p" "$WORK/model-rows")
  if [ "$v" = nan ]; then
    grep -q "$row skipped: " "$WORK/model-rows.err" || fail "$row is nan without a reason"
  else
    assert_min "${v:-0}" 1 "$row"
  fi
done
printf 'ROW %s\n' "store_mf_ratings_s 1000 ratings/s" >> "$WORK/model-rows"
"$SRC/bench/report.awk" -v machine=test "$WORK/model-rows" > "$WORK/model-report"
grep -qE '^mf_vs_store +[0-9.]+$' "$WORK/model-report" || { cat "$WORK/model-report"; fail "mf_vs_store ratio"; }
grep -qE '^MNIST MLP 1x1 >= 0.6 x PyTorch' "$WORK/model-report" || fail "the MLP target is not reported"
ok "model rows: $(tr '\n' ' ' < "$WORK/model-rows")"
