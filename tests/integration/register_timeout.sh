#!/usr/bin/env bash
# A cluster that never fills up: the scheduler gives up after
# cluster.register_timeout, naming exactly who is missing, and the node
# that did register is told to stop.
. "$(dirname "$0")/common.inc"
sets=(--set cluster.servers=2 --set cluster.workers=1 --set cluster.register_timeout=2
      --set output.dir="$WORK/run")
start_scheduler sched "${sets[@]}"
start_role server server "${sets[@]}"
wait_gone $SCHED_PID 10 || fail "scheduler still waiting after 10 s"
wait $SCHED_PID && fail "scheduler exited 0"
cat "$WORK/sched.err"
grep -q "timed out after 2 s (cluster.register_timeout) waiting for: server 1, worker 0" \
  "$WORK/sched.err" || fail "missing peers not named"
wait_gone $ROLE_PID 5 || fail "server not stopped"
# A node whose scheduler never answers gives up on its own deadline too.
"$PARASOL" worker examples/a9a.yaml --set cluster.register_timeout=1 \
  --set cluster.scheduler=tcp://127.0.0.1:9 2> "$WORK/orphan.err"
[ $? -ne 0 ] || fail "orphan worker exited 0"
grep -q "no welcome from the scheduler at tcp://127.0.0.1:9 within 1 s" "$WORK/orphan.err" ||
  { cat "$WORK/orphan.err"; fail "orphan worker message"; }
ok "registration deadline names the missing peers"
