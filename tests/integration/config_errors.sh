#!/usr/bin/env bash
# Config mistakes stop `parasol launch` before any process starts, with
# file, line and field in the message and a non-zero exit.
. "$(dirname "$0")/common.inc"
check() { # name expected-regex config-file [args...]
  local name=$1 want=$2 cfg=$3
  shift 3
  "$PARASOL" launch "$cfg" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] || fail "$name: exit 0"
  grep -qE -- "$want" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name: message lacks /$want/"; }
  grep -q "started" "$WORK/$name.log" && fail "$name: processes were started"
  ok "$name: $(head -1 "$WORK/$name.log")"
}
base() { sed "s#data/a9a/#$SRC/data/a9a/#g" examples/a9a.yaml; }
base | sed 's/workers: 2/wrkers: 2/' > "$WORK/typo.yaml"
check typo "typo.yaml:4.*cluster.wrkers.*did you mean 'workers'" "$WORK/typo.yaml"
base | sed 's/epochs: 5/epochs: five/' > "$WORK/type.yaml"
check type "type.yaml:7.*training.epochs" "$WORK/type.yaml"
base | sed 's/lr: 0.1/lr: -1/' > "$WORK/range.yaml"
check range "range.yaml:6.*optimizer.lr" "$WORK/range.yaml"
base | sed 's#a9a/a9a,#a9a/nope,#' > "$WORK/missing.yaml"
check missing "missing.yaml:8.*data.train.*nope" "$WORK/missing.yaml"
base | sed 's/type: adagrad/type: adam/' > "$WORK/enum.yaml"
check enum "enum.yaml:6.*optimizer.type.*sgd" "$WORK/enum.yaml"
base > "$WORK/good.yaml"
check set "--set cluster.workers=0" "$WORK/good.yaml" --set cluster.workers=0
check setname "--set cluster.wrkers=3.*unknown" "$WORK/good.yaml" --set cluster.wrkers=3
check nofile "no-such.yaml" "$WORK/no-such.yaml"
printf 'cluster: { servers: 2\n' > "$WORK/syntax.yaml"
check syntax "syntax.yaml" "$WORK/syntax.yaml"
# The same file with a valid --set is accepted by every role's parser.
"$PARASOL" server --help | grep -q "usage: parasol server" || fail "server --help"
