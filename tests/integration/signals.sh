#!/usr/bin/env bash
# Every role handles SIGINT and SIGTERM, also when started with `&` from a
# script (which starts it with SIGINT ignored): it tells the cluster why it
# stops, the others stop at once with that reason, and every process of
# the failed run exits non-zero: 128 + the signal for the one that got it,
# 1 for the others.
. "$(dirname "$0")/common.inc"

# cluster NAME: scheduler, 1 server and 2 workers started by hand, training
# "forever"; returns once both workers train. Sets S, V, W0, W1.
cluster() {
  local name=$1
  local sets=(--set cluster.servers=1 --set cluster.workers=2 --set training.epochs=100000
              --set output.dir="$WORK/$name")
  start_scheduler "$name.sched" "${sets[@]}"
  S=$SCHED_PID
  start_role server "$name.server" "${sets[@]}"; V=$ROLE_PID
  start_role worker "$name.w0" "${sets[@]}" --rank 0; W0=$ROLE_PID
  start_role worker "$name.w1" "${sets[@]}" --rank 1; W1=$ROLE_PID
  wait_for_line "$WORK/$name.w1.err" "epoch 2/" 30 || { cat "$WORK/$name".*.err; fail "$name: training did not start"; }
}

# all_fail NAME SECONDS PIDS... : every pid exits non-zero within SECONDS;
# the first with STATUS (128 + the signal it got), the others with 1.
all_fail() {
  local name=$1 secs=$2 want=$STATUS p rc
  shift 2
  for p in "$@"; do
    wait_gone "$p" "$secs" || { cat "$WORK/$name".*.err; fail "$name: process $p still running after $secs s"; }
    wait "$p"
    rc=$?
    [ $rc -eq "$want" ] || { cat "$WORK/$name".*.err; fail "$name: process $p exited $rc, want $want"; }
    want=1
  done
}

# stopped NAME SIGNAL VICTIM STATUS REGEX : in a fresh cluster, SIGNAL to
# VICTIM (S, V, W0 or W1) makes every process exit (VICTIM with STATUS)
# within 5 s, and every other node's log gives REGEX as the reason.
stopped() {
  local name=$1 sig=$2 victim=$3 status=$4 want=$5 pid f others=()
  cluster "$name"
  pid=${!victim}
  kill -"$sig" "$pid"
  for f in S V W0 W1; do [ "$f" = "$victim" ] || others+=("${!f}"); done
  STATUS=$status all_fail "$name" 5 "$pid" "${others[@]}"
  for f in sched server w0 w1; do
    [ "$WORK/$name.$f.err" -ef "$WORK/$name.$(log_of "$victim").err" ] && continue
    grep -qE "$want" "$WORK/$name.$f.err" || { cat "$WORK/$name.$f.err"; fail "$name: $f lacks /$want/"; }
  done
  ok "$name: every node stopped with the reason"
}
log_of() { case $1 in S) echo sched ;; V) echo server ;; W0) echo w0 ;; W1) echo w1 ;; esac; }

# The scheduler names a failed node as "ROLE RANK (host H, pid P) failed:
# REASON" and tells the others "the run failed: <that>".
stopped term_sched TERM S 143 "the run failed: scheduler stopped by SIGTERM"
stopped term_server TERM V 143 "server 0 \(host .*, pid [0-9]+\) failed: stopped by SIGTERM"
# SIGINT, which a script's `&` starts ignored, to a worker and to the scheduler.
stopped int_worker INT W1 130 "worker 1 \(host .*, pid [0-9]+\) failed: stopped by SIGINT"
stopped int_sched INT S 130 "the run failed: scheduler stopped by SIGINT"

# A node still waiting for the others, stopped: the scheduler stops at once.
sets=(--set cluster.servers=1 --set cluster.workers=1 --set output.dir="$WORK/early")
start_scheduler early.sched "${sets[@]}"
start_role server early.server "${sets[@]}"
wait_for_line "$WORK/early.sched.err" "registered .*server" 10 || fail "server did not register"
kill -TERM $ROLE_PID
STATUS=143 all_fail early 5 $ROLE_PID $SCHED_PID
grep -q "a server still registering (host .*) failed: stopped by SIGTERM" "$WORK/early.sched.err" ||
  { cat "$WORK/early.sched.err"; fail "scheduler did not say the registering server stopped"; }
ok "a node stopped while registering stops the scheduler"
