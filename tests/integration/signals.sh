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

# SIGTERM to the scheduler: the others hear why at once.
cluster term_sched
kill -TERM $S
STATUS=143 all_fail term_sched 5 $S $V $W0 $W1
for f in server w0 w1; do
  grep -q "the run failed: scheduler stopped by SIGTERM" "$WORK/term_sched.$f.err" ||
    { cat "$WORK/term_sched.$f.err"; fail "$f did not give the scheduler's reason"; }
done
ok "SIGTERM to the scheduler stops every node with the reason"

# SIGTERM to a server: the scheduler names it, everyone stops.
cluster term_server
kill -TERM $V
STATUS=143 all_fail term_server 5 $V $S $W0 $W1
grep -q "server 0 (host .*, pid $V) failed: stopped by SIGTERM" "$WORK/term_server.sched.err" ||
  { cat "$WORK/term_server.sched.err"; fail "scheduler did not name the server"; }
grep -q "the run failed: server 0 (host .*, pid $V) failed: stopped by SIGTERM" "$WORK/term_server.w1.err" ||
  { cat "$WORK/term_server.w1.err"; fail "worker 1 did not give the reason"; }
ok "SIGTERM to a server stops every node with the reason"

# SIGINT to a worker and to a scheduler started with & (SIGINT ignored by
# the shell's rule for background jobs).
cluster int_worker
kill -INT $W1
STATUS=130 all_fail int_worker 5 $W1 $S $V $W0
grep -q "worker 1 (host .*, pid $W1) failed: stopped by SIGINT" "$WORK/int_worker.sched.err" ||
  { cat "$WORK/int_worker.sched.err"; fail "scheduler did not name worker 1"; }
cluster int_sched
kill -INT $S
STATUS=130 all_fail int_sched 5 $S $V $W0 $W1
grep -q "the run failed: scheduler stopped by SIGINT" "$WORK/int_sched.w0.err" ||
  { cat "$WORK/int_sched.w0.err"; fail "worker 0 did not give the reason"; }
ok "SIGINT to a background worker or scheduler stops the run"

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
