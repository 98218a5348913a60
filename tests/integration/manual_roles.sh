#!/usr/bin/env bash
# Roles started by hand, as on separate machines: a scheduler on an
# ephemeral port, a server and a worker told only its endpoint (ranks
# assigned by the scheduler). A rogue client sends the server malformed
# messages and a NaN gradient first: the server drops and counts them,
# rejects the NaN push, and training still completes.
. "$(dirname "$0")/common.inc"
[ -x "$TOOLS/pc_poke" ] || fail "pc_poke not built"
out="$WORK/run"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; }
trap cleanup EXIT
sets=(--set cluster.servers=1 --set cluster.workers=1 --set output.dir="$out")
"$PARASOL" scheduler examples/a9a.yaml "${sets[@]}" --announce > "$WORK/sched.out" 2> "$WORK/sched.err" &
sched=$!; pids+=($sched)
wait_for_line "$WORK/sched.out" '^@endpoint ' 20 || fail "scheduler did not announce"
ep=$(sed -n 's/^@endpoint //p' "$WORK/sched.out")
grep -q "listening on $ep" "$WORK/sched.err" || fail "scheduler did not log its endpoint"
"$PARASOL" server examples/a9a.yaml "${sets[@]}" --set cluster.scheduler="$ep" 2> "$WORK/server.err" &
pids+=($!)
wait_for_line "$WORK/server.err" 'advertising tcp://' 20 || fail "server did not bind"
sep=$(sed -n 's/.*advertising \(tcp:[^ ]*\).*/\1/p' "$WORK/server.err")
"$TOOLS/pc_poke" "$sep" 30 > "$WORK/poke.out" &
poke=$!; pids+=($poke)
sleep 0.5
"$PARASOL" worker examples/a9a.yaml "${sets[@]}" --set cluster.scheduler="$ep" 2> "$WORK/worker.err" &
worker=$!; pids+=($worker)
wait $poke || { cat "$WORK/poke.out" "$WORK/server.err"; fail "server did not survive the rogue client"; }
cat "$WORK/poke.out"
for p in $sched $worker; do
  for ((i = 0; i < 300; i++)); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
  wait $p || { cat "$WORK/sched.err" "$WORK/worker.err"; fail "process $p failed"; }
done
grep -q '^\[server 0\] serving shard 0' "$WORK/server.err" || fail "server logs lack role/rank"
dropped=$(sed -n 's/.*"messages_dropped": \([0-9]*\)}.*/\1/p' "$out/metrics.json" | head -1)
rejected=$(sed -n 's/.*"pushes_rejected": \([0-9]*\),.*/\1/p' "$out/metrics.json" | head -1)
echo "server dropped $dropped messages, rejected $rejected pushes"
[ "$dropped" -ge 7 ] || fail "server counted $dropped dropped messages, want >= 7"
[ "$rejected" -ge 1 ] || fail "NaN push not counted"
acc=$(json_num "$out/metrics.json" test accuracy)
awk -v a="$acc" 'BEGIN { exit !(a >= 0.84) }' || fail "accuracy $acc after the rogue client"
ok "manual roles; garbage dropped; accuracy $acc"
