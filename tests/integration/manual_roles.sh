#!/usr/bin/env bash
# Roles started by hand, as on separate machines: a scheduler on an
# ephemeral port, a server and a worker told only its endpoint (ranks
# assigned by the scheduler). A rogue client sends the server malformed
# messages (a bad batch among them) and NaN gradients (alone and inside a
# batch) first: the server drops and counts them, rejects the NaN pushes,
# and training still completes.
. "$(dirname "$0")/common.inc"
[ -x "$TOOLS/pc_poke" ] || fail "pc_poke not built"
out="$WORK/run"
sets=(--set cluster.servers=1 --set cluster.workers=1 --set output.dir="$out")
start_scheduler sched "${sets[@]}"
grep -q "listening on $SCHED_EP" "$WORK/sched.err" || fail "scheduler did not log its endpoint"
start_role server server "${sets[@]}"
wait_for_line "$WORK/server.err" 'advertising tcp://' 20 || fail "server did not bind"
sep=$(sed -n 's/.*advertising \(tcp:[^ ]*\).*/\1/p' "$WORK/server.err")
"$TOOLS/pc_poke" "$sep" 30 > "$WORK/poke.out" &
poke=$!
BG_PIDS+=($poke)
sleep 0.5
start_role worker worker "${sets[@]}"
worker=$ROLE_PID
wait $poke || { cat "$WORK/poke.out" "$WORK/server.err"; fail "server did not survive the rogue client"; }
cat "$WORK/poke.out"
for p in $SCHED_PID $worker; do
  wait_gone $p 30 || fail "process $p still running"
  wait $p || { cat "$WORK/sched.err" "$WORK/worker.err"; fail "process $p failed"; }
done
grep -q '^\[server 0\] serving shard 0' "$WORK/server.err" || fail "server logs lack role/rank"
dropped=$(jq '.servers[0].messages_dropped' "$out/metrics.json")
rejected=$(jq '.servers[0].pushes_rejected' "$out/metrics.json")
echo "server dropped $dropped messages, rejected $rejected pushes"
[ "$dropped" -ge 8 ] || fail "server counted $dropped dropped messages, want >= 8"
[ "$rejected" -ge 2 ] || fail "NaN pushes not counted (want 2: one alone, one in a batch)"
acc=$(json_num "$out/metrics.json" test accuracy)
assert_min "$acc" 0.84 "accuracy after the rogue client"
ok "manual roles; garbage dropped; accuracy $acc"
