#!/usr/bin/env bash
# Roles started by hand, minutes apart as on real machines: a server that
# waits longer than cluster.node_timeout for the rest of the cluster is
# still answered (it once took the scheduler for dead), nothing it sends
# while waiting is logged as junk, and the scheduler says which rank each
# node got.
. "$(dirname "$0")/common.inc"
out="$WORK/run"
sets=(--set cluster.servers=1 --set cluster.workers=1 --set cluster.heartbeat=0.2
      --set cluster.node_timeout=2 --set output.dir="$out")
start_scheduler sched "${sets[@]}"
start_role server server "${sets[@]}"
server=$ROLE_PID
sleep 4 # twice cluster.node_timeout: the server heartbeats all along
kill -0 $server 2>/dev/null || { cat "$WORK/server.err"; fail "server gave up while waiting"; }
start_role worker worker "${sets[@]}"
worker=$ROLE_PID
all_ok 60 $SCHED_PID $server $worker
grep -i "unregistered\|dropped" "$WORK/sched.err" && fail "scheduler logged a registering node's heartbeats as junk"
grep -q "assigned rank 0 to the server on host" "$WORK/sched.err" || { cat "$WORK/sched.err"; fail "server's rank not logged"; }
grep -q "assigned rank 0 to the worker on host" "$WORK/sched.err" || fail "worker's rank not logged"
ok "nodes started seconds apart"
