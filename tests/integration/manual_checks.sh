#!/usr/bin/env bash
# A cluster started by hand, as a new user starts one:
# - the scheduler and the server need no data files (only workers read data);
# - nodes whose shared settings differ from the scheduler's are refused,
#   naming the field and both values, and exit non-zero;
# - a node told to join port 0, or a server told to bind 'yes', is refused
#   at once with what to fix.
. "$(dirname "$0")/common.inc"
out="$WORK/run"
sets=(--set cluster.servers=1 --set cluster.workers=1 --set output.dir="$out")
nodata=(--set data.train=/nonexistent/train.svm --set data.test=)

# Mistakes that need no cluster.
t0=$SECONDS
"$PARASOL" worker examples/a9a.yaml 2> "$WORK/port0.err"
rc=$?
[ $rc -eq 2 ] || { cat "$WORK/port0.err"; fail "worker joining port 0 exited $rc, want 2"; }
grep -q "cluster.scheduler.*port 0 .*give the port the scheduler listens on" "$WORK/port0.err" ||
  { cat "$WORK/port0.err"; fail "port 0 message"; }
[ $((SECONDS - t0)) -lt 3 ] || fail "worker took $((SECONDS - t0)) s to refuse port 0"
"$PARASOL" server examples/a9a.yaml --set cluster.scheduler=tcp://127.0.0.1:7 --set cluster.bind=yes \
  2> "$WORK/bind.err"
rc=$?
[ $rc -eq 2 ] || { cat "$WORK/bind.err"; fail "server with bind 'yes' exited $rc, want 2"; }
grep -q -- "--set cluster.bind=yes: 'yes' is not '\*' (every interface), a numeric IPv4 address or a network interface of this host (lo" "$WORK/bind.err" ||
  { cat "$WORK/bind.err"; fail "bind message"; }
ok "port 0 and a bad bind refused at once"

start_scheduler sched "${sets[@]}" "${nodata[@]}"
# Each differing node is refused at registration and exits 1 with the reason.
refused() { # name expected-regex role sets...
  local name=$1 want=$2 role=$3
  shift 3
  start_role "$role" "$name" "${sets[@]}" "$@"
  wait_gone $ROLE_PID 10 || fail "$name: not refused within 10 s"
  wait $ROLE_PID
  local rc=$?
  [ $rc -eq 1 ] || { cat "$WORK/$name.err"; fail "$name: exit $rc, want 1"; }
  grep -qE "scheduler refused registration: $want" "$WORK/$name.err" ||
    { cat "$WORK/$name.err"; fail "$name: message lacks /$want/"; }
  ok "$name: $(grep -m1 -o 'refused registration: .*' "$WORK/$name.err")"
}
refused sgd "optimizer.type differs: sgd on the server \(host .*, pid [0-9]+\), adagrad on the scheduler" \
  server "${nodata[@]}" --set optimizer.type=sgd --set optimizer.lr=50
refused lr50 "optimizer.lr differs: 50 on the server .*, 0.1 on the scheduler" \
  server "${nodata[@]}" --set optimizer.lr=50
refused features "model.features differs: 1000 on the worker .*, 124 on the scheduler" \
  worker --set model.features=1000
refused layout "model.layout differs: dense on the worker .*, sparse on the scheduler" \
  worker --set model.layout=dense
grep -q "registration refused: model.layout differs" "$WORK/sched.err" || fail "scheduler did not log the refusal"

# Nodes that agree train; the server has no data files either.
start_role server server "${sets[@]}" "${nodata[@]}"
server=$ROLE_PID
start_role worker worker "${sets[@]}"
worker=$ROLE_PID
all_ok 60 $SCHED_PID $server $worker
grep -q "cannot open" "$WORK/sched.err" "$WORK/server.err" && fail "scheduler or server looked at the data"
ok "scheduler and server ran without data files; the agreeing worker trained"
