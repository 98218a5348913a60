#!/usr/bin/env bash
# A worker killed with SIGKILL mid-training: the launcher exits non-zero
# within 10 s naming it, and no process of the cluster is left.
. "$(dirname "$0")/common.inc"
start_training_launch 1
log=$LOG
launcher=$LAUNCHER
victim=$(sed -n 's/.*started worker 1 (pid \([0-9]*\)).*/\1/p' "$log")
[ -n "$victim" ] || { kill -9 $launcher; fail "no pid for worker 1"; }
kill -9 "$victim"
t0=$(date +%s.%N)
for ((i = 0; i < 150; i++)); do kill -0 $launcher 2>/dev/null || break; sleep 0.1; done
if kill -0 $launcher 2>/dev/null; then kill -9 $launcher; fail "launcher still running 15 s after the kill"; fi
wait $launcher
rc=$?
secs=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
echo "launcher exited $rc after ${secs}s"
tail -5 "$log"
[ $rc -ne 0 ] || fail "launcher exited 0"
awk -v s="$secs" 'BEGIN { exit !(s < 10) }' || fail "took ${secs}s"
grep -qE "worker 1 \(pid $victim\) was killed by signal 9" "$log" || fail "failure not named"
assert_all_gone "$log"
ok "killed worker reported in ${secs}s"
