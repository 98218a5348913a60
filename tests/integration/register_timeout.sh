#!/usr/bin/env bash
# A cluster that never fills up: the scheduler gives up after
# cluster.register_timeout, naming exactly who is missing, and the node
# that did register is told to stop.
. "$(dirname "$0")/common.inc"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
sets=(--set cluster.servers=2 --set cluster.workers=1 --set cluster.register_timeout=2
      --set output.dir="$WORK/run")
"$PARASOL" scheduler examples/a9a.yaml "${sets[@]}" --announce > "$WORK/sched.out" 2> "$WORK/sched.err" &
sched=$!; pids+=($sched)
wait_for_line "$WORK/sched.out" '^@endpoint ' 20 || fail "scheduler did not announce"
ep=$(sed -n 's/^@endpoint //p' "$WORK/sched.out")
"$PARASOL" server examples/a9a.yaml "${sets[@]}" --set cluster.scheduler="$ep" 2> "$WORK/server.err" &
server=$!; pids+=($server)
for ((i = 0; i < 100; i++)); do kill -0 $sched 2>/dev/null || break; sleep 0.1; done
kill -0 $sched 2>/dev/null && fail "scheduler still waiting after 10 s"
wait $sched && fail "scheduler exited 0"
cat "$WORK/sched.err"
grep -q "timed out after 2 s (cluster.register_timeout) waiting for: server 1, worker 0" \
  "$WORK/sched.err" || fail "missing peers not named"
for ((i = 0; i < 50; i++)); do kill -0 $server 2>/dev/null || break; sleep 0.1; done
kill -0 $server 2>/dev/null && fail "server not stopped"
# A node whose scheduler never answers gives up on its own deadline too.
"$PARASOL" worker examples/a9a.yaml --set cluster.register_timeout=1 \
  --set cluster.scheduler=tcp://127.0.0.1:9 2> "$WORK/orphan.err"
[ $? -ne 0 ] || fail "orphan worker exited 0"
grep -q "no welcome from the scheduler at tcp://127.0.0.1:9 within 1 s" "$WORK/orphan.err" ||
  { cat "$WORK/orphan.err"; fail "orphan worker message"; }
ok "registration deadline names the missing peers"
