#!/usr/bin/env bash
# A malformed training line: abort with file:line by default, and
# metrics.json says the run failed and why; with data.on_error=skip the run
# completes and reports what it skipped, in the log and in metrics.json.
. "$(dirname "$0")/common.inc"
bad="$WORK/a9a.bad"
{ head -n 1000 "$A9A"; echo "+1 5:1 3:1"; sed -n '1001,$p' "$A9A"; echo "-1 7:abc"; } > "$bad"
timeout 60 "$PARASOL" launch examples/a9a.yaml --set data.train="$bad" \
  --set output.dir="$WORK/run1" > "$WORK/abort.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "bad data accepted"
grep -qE "a9a.bad:1001: .*increas" "$WORK/abort.log" || { cat "$WORK/abort.log"; fail "no file:line for the bad line"; }
assert_all_gone "$WORK/abort.log"
[ "$(metrics_status "$WORK/run1/metrics.json")" = failed ] ||
  { cat "$WORK/run1/metrics.json"; fail "a failed run's metrics.json does not say failed"; }
# Both workers hold a bad line; whichever reports first is the run's reason.
jq -r .error "$WORK/run1/metrics.json" | grep -qE "worker [01] .* failed: .*a9a.bad:(1001|32563): " ||
  { cat "$WORK/run1/metrics.json"; fail "metrics.json error does not name the bad line"; }
! jq -e 'has("test")' "$WORK/run1/metrics.json" > /dev/null || fail "a failed run has test figures"
ok "abort: $(grep -m1 'a9a.bad:1001' "$WORK/abort.log")"
launch_ok skip --set data.train="$bad" --set data.on_error=skip
n=$(sed -n 's/.*skipped \([0-9]*\) malformed lines.*/\1/p' "$WORK/skip.log" | awk '{ s += $1 } END { print s }')
[ "$n" = "2" ] || fail "skipped '$n' lines, want 2"
m="$WORK/skip/metrics.json"
[ "$(json_num "$m" train lines_skipped)" = 2 ] ||
  fail "metrics.json train.lines_skipped '$(json_num "$m" train lines_skipped)', want 2"
[ "$(jq '[.workers[].lines_skipped] | add' "$m")" = 2 ] || fail "workers' lines_skipped do not add up to 2"
[ "$(json_num "$m" test lines_skipped)" = 0 ] || fail "test.lines_skipped '$(json_num "$m" test lines_skipped)', want 0"
ok "skip: 2 lines skipped (metrics.json says so) and training finished"
# A byte-order mark at the start of the training file (as some editors
# save it) is skipped: training reads every example.
{ printf '\xef\xbb\xbf'; cat "$A9A"; } > "$WORK/bom.svm"
launch_ok bom --set data.train="$WORK/bom.svm"
assert_min "$ACC" 0.84 "accuracy on a file with a byte-order mark"
ok "byte-order mark skipped"
# Roles started by hand: the failing worker tells the scheduler why, so the
# run stops at once with file:line instead of waiting for silence.
sets=(--set cluster.servers=1 --set cluster.workers=1 --set data.train="$bad" --set output.dir="$WORK/run3")
start_scheduler sched "${sets[@]}"
start_role server server "${sets[@]}"
server=$ROLE_PID
start_role worker worker "${sets[@]}"
t0=$SECONDS
wait $SCHED_PID && fail "scheduler exited 0 on a failed worker"
[ $((SECONDS - t0)) -lt 5 ] || fail "scheduler took $((SECONDS - t0)) s to notice"
grep -qE "worker 0 \(host .*\) failed: .*a9a.bad:1001" "$WORK/sched.err" ||
  { cat "$WORK/sched.err"; fail "scheduler did not name the worker's failure"; }
wait $ROLE_PID && fail "worker exited 0"
wait_gone $server 5 || fail "server not told to stop"
[ "$(metrics_status "$WORK/run3/metrics.json")" = failed ] || fail "manual run: metrics.json not failed"
ok "manual: $(grep -m1 'failed:' "$WORK/sched.err")"
