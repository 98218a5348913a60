#!/usr/bin/env bash
# Mistakes that used to surface only after training (or never) are found
# before any process starts, or before training, naming what is wrong.
. "$(dirname "$0")/common.inc"

# refused NAME REGEX ARGS... : launch refuses before starting any process.
refused() {
  local name=$1 want=$2
  shift 2
  timeout 60 "$PARASOL" launch examples/a9a.yaml "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || { cat "$WORK/$name.log"; fail "$name: exit $rc"; }
  grep -qE -- "$want" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name: message lacks /$want/"; }
  grep -q "started scheduler" "$WORK/$name.log" && { cat "$WORK/$name.log"; fail "$name: processes were started"; }
  ok "$name: $(grep -m1 error "$WORK/$name.log")"
}

# output.dir: a regular file, a directory that cannot be written, one
# below a file.
touch "$WORK/afile"
refused outfile "output.dir '$WORK/afile': .*afile is a file, not a directory" --set output.dir="$WORK/afile"
refused outbelow "output.dir '$WORK/afile/run'" --set output.dir="$WORK/afile/run"
if [ "$(id -u)" -eq 0 ]; then ro=/sys/kernel; else ro="$WORK/ro"; mkdir -p "$ro"; chmod 555 "$ro"; fi
refused outro "output.dir '$ro': cannot write there" --set output.dir="$ro"

# An empty training file; a model that cannot fit in memory.
: > "$WORK/empty.svm"
refused emptytrain "data.train=$WORK/empty.svm: '$WORK/empty.svm': the file is empty" --set data.train="$WORK/empty.svm"
avail=$(awk '/^MemAvailable:/ { print $2 * 1024 }' /proc/meminfo)
big=$(awk -v a="$avail" 'BEGIN { printf "%.0f", a / 4 }') # 8 B per dense AdaGrad key: twice what is free
refused memory "model.features=$big with dense tables .* needs [0-9.]+ GiB, but this machine has [0-9.]+ GiB available" \
  --set model.layout=dense --set model.features=$big --set output.dir="$WORK/big"
# A server started by hand checks its own share.
sets=(--set cluster.servers=1 --set cluster.workers=1 --set model.layout=dense --set model.features=$big
      --set output.dir="$WORK/bigmanual" --set cluster.register_timeout=20)
start_scheduler bigsched "${sets[@]}"
start_role server bigserver "${sets[@]}"
server=$ROLE_PID
start_role worker bigworker "${sets[@]}"
wait_gone $server 20 || fail "server with a model that cannot fit still running"
wait $server && fail "server exited 0"
grep -qE "server 0's share of the model's dense tables \([0-9]+ keys; model.features=$big\) needs" "$WORK/bigserver.err" ||
  { cat "$WORK/bigserver.err"; fail "server did not say its share cannot fit"; }
wait_gone $SCHED_PID 10 || fail "scheduler not stopped by the server's failure"
wait_gone $ROLE_PID 10 || fail "worker not stopped by the server's failure"
ok "a server whose share cannot fit refuses at start"

# One training file with one example, two workers: worker 1 has nothing.
head -1 "$A9A" > "$WORK/one.svm"
timeout 60 "$PARASOL" launch examples/a9a.yaml --set data.train="$WORK/one.svm" \
  --set output.dir="$WORK/one" > "$WORK/one.log" 2>&1 && fail "an empty partition trained"
grep -qE "error: worker 1 \(host .*\) failed: .*one.svm: partition 1 of 2 holds no examples" "$WORK/one.log" ||
  { cat "$WORK/one.log"; fail "empty partition not named"; }
ok "empty partition refused"

# A good run, then a run that fails in the same output.dir: nothing of the
# first run may pass for the second's.
out="$WORK/reuse"
launch_ok reuse1 --set output.dir="$out"
[ -f "$out/model.bin" ] && [ -f "$out/metrics.json" ] || fail "first run left no outputs"
echo junk > "$out/model.bin.tmp" # as a worker killed while saving leaves it
{ head -3 "$A9AT"; echo "+1 5:1 3:1"; sed -n '4,$p' "$A9AT"; } > "$WORK/bad.t"
timeout 60 "$PARASOL" launch examples/a9a.yaml --set output.dir="$out" --set data.test="$WORK/bad.t" \
  > "$WORK/reuse2.log" 2>&1 && fail "a bad test file was accepted"
# The bad test line is found before training, and blamed on worker 0 and the file.
grep -q "epoch 1/" "$WORK/reuse2.log" && { cat "$WORK/reuse2.log"; fail "trained before reading the test file"; }
grep -qE "\[launch\] error: worker 0 \(host .*\) failed: .*bad.t:4: " "$WORK/reuse2.log" ||
  { cat "$WORK/reuse2.log"; fail "failure not blamed on worker 0 and bad.t:4"; }
[ -e "$out/model.bin" ] && fail "an earlier run's model.bin left in output.dir"
[ -e "$out/model.bin.tmp" ] && fail "model.bin.tmp left in output.dir"
[ -f "$out/previous/model.bin" ] || fail "the earlier run's model.bin was not kept in previous/"
[ "$(metrics_status "$out/metrics.json")" = failed ] || fail "metrics.json of a failed run does not say so"
[ -f "$out/previous/metrics.json" ] && [ "$(metrics_status "$out/previous/metrics.json")" = finished ] ||
  fail "the earlier run's metrics.json was not kept in previous/"
ok "a failed run leaves nothing that passes for its own"

# Two runs in one output.dir at once: the second is refused.
"$PARASOL" launch examples/a9a.yaml --set training.epochs=100000 --set output.dir="$WORK/busy" \
  > "$WORK/busy1.log" 2>&1 &
first=$!
BG_PIDS+=($first)
wait_for_line "$WORK/busy1.log" "epoch 1/" 60 || { cat "$WORK/busy1.log"; fail "first run did not start"; }
refused busy "output.dir '$WORK/busy' is in use by another run \(pid [0-9]+ on host .*, started 20[0-9-]+T" \
  --set output.dir="$WORK/busy"
kill -INT $first
wait_gone $first 15 || fail "first run did not stop"
