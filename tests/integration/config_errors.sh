#!/usr/bin/env bash
# Config mistakes stop `parasol launch` and `parasol scheduler` before any
# process starts or any socket is bound, with file, line and field in the
# message and a non-zero exit. Every command runs under `timeout`.
. "$(dirname "$0")/common.inc"
check() { # name expected-regex config-file [args...]
  local name=$1 want=$2 cfg=$3
  shift 3
  timeout 60 "$PARASOL" launch "$cfg" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] || fail "$name: exit 0"
  [ $rc -ne 124 ] || fail "$name: still running after 60 s"
  LC_ALL=C grep -qE -- "$want" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name: message lacks /$want/"; }
  grep -q "started" "$WORK/$name.log" && fail "$name: processes were started"
  ok "$name: $(head -1 "$WORK/$name.log")"
}
# The scheduler loads the config the same way; refused means exit 2 before
# it binds (no 'listening on').
check_sched() { # name expected-regex config-file [args...]
  local name=$1 want=$2 cfg=$3
  shift 3
  timeout 20 "$PARASOL" scheduler "$cfg" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  [ $rc -eq 2 ] || { cat "$WORK/$name.log"; fail "$name: exit $rc, expected 2"; }
  LC_ALL=C grep -qE -- "$want" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name: message lacks /$want/"; }
  grep -q "listening on" "$WORK/$name.log" && fail "$name: the scheduler started"
  ok "$name: $(head -1 "$WORK/$name.log")"
}
base() { sed "s#data/a9a/#$SRC/data/a9a/#g" examples/a9a.yaml; }
base | sed 's/workers: 2/wrkers: 2/' > "$WORK/typo.yaml"
check typo "typo.yaml:4.*cluster.wrkers.*did you mean 'workers'" "$WORK/typo.yaml"
base | sed 's/epochs: 5/epochs: five/' > "$WORK/type.yaml"
check type "type.yaml:7.*training.epochs" "$WORK/type.yaml"
base | sed 's/lr: 0.1/lr: -1/' > "$WORK/range.yaml"
check range "range.yaml:6.*optimizer.lr" "$WORK/range.yaml"
base | sed 's/type: adagrad/type: adam/' > "$WORK/enum.yaml"
check enum "enum.yaml:6.*optimizer.type.*sgd" "$WORK/enum.yaml"
base > "$WORK/good.yaml"
check set "--set cluster.workers=0" "$WORK/good.yaml" --set cluster.workers=0
check setname "--set cluster.wrkers=3.*unknown" "$WORK/good.yaml" --set cluster.wrkers=3
check nofile "no-such.yaml" "$WORK/no-such.yaml"
printf 'cluster: { servers: 2\n' > "$WORK/syntax.yaml"
check syntax "syntax.yaml" "$WORK/syntax.yaml"

# A Latin-1 byte (or a NUL) used to end the file silently: the bad lr after
# it was never seen and the scheduler started. Now the file is refused at
# the byte.
{ base | grep -v '^optimizer:'; printf '# caf\xe9 au lait\n'; echo 'optimizer: { lr: -5 }'; } > "$WORK/latin1.yaml"
check_sched latin1 "latin1.yaml:9: column 6 \(byte offset [0-9]+\): invalid UTF-8 \(byte 0xE9\); save the file as UTF-8" \
  "$WORK/latin1.yaml"
{ base | grep -v '^optimizer:'; printf '#\0\n'; echo 'optimizer: { lr: -5 }'; } > "$WORK/nul.yaml"
check_sched nul "nul.yaml:9: column 2 .*a NUL byte" "$WORK/nul.yaml"
# Oversized files are refused by size, before the YAML parser sees them.
{ base; head -c 2097152 /dev/zero | tr '\0' '#'; } > "$WORK/huge.yaml"
check_sched huge "huge.yaml: file is 2097[0-9]+ bytes \(2.0 MiB\); a config file may be at most 1048576 bytes" \
  "$WORK/huge.yaml"
mkfifo "$WORK/fifo.yaml"
check_sched fifo "fifo.yaml: not a regular file" "$WORK/fifo.yaml"
# --set names get the same hints as the file.
check_sched set_wrong_section "--set training.lr=0.5: unknown field 'training.lr' \(did you mean 'optimizer.lr'\?\)" \
  "$WORK/good.yaml" --set training.lr=0.5
check_sched set_section_typo "did you mean 'cluster.workers'" "$WORK/good.yaml" --set clustr.workers=3
check_sched set_latin1 "--set output.dir=.*invalid UTF-8 \(byte 0xE9\)" "$WORK/good.yaml" \
  --set "output.dir=$(printf 'caf\xe9')"

# Only processes that read the data check it: a scheduler starts without
# the data files (it gives up after register_timeout, nobody registers).
timeout 20 "$PARASOL" scheduler "$WORK/good.yaml" --set data.train=/nonexistent/train.svm \
  --set data.test=/nonexistent/test.svm --set cluster.register_timeout=0.5 --announce \
  --set output.dir="$WORK/nodata" > "$WORK/nodata.out" 2> "$WORK/nodata.err"
grep -q '^@endpoint tcp://' "$WORK/nodata.out" || { cat "$WORK/nodata.err"; fail "nodata: scheduler did not start"; }
grep -q 'cannot open' "$WORK/nodata.err" && fail "nodata: scheduler looked at the data files"
ok "nodata: scheduler started without data files"

# The same file with a valid --set is accepted by every role's parser.
"$PARASOL" server --help | grep -q "usage: parasol server" || fail "server --help"

# Last, as it needs cli/parasol.c to call pc_config_check_data before
# launching (pc_config_load no longer opens data files).
base | sed 's#a9a/a9a,#a9a/nope,#' > "$WORK/missing.yaml"
check missing "missing.yaml:8.*data.train.*nope" "$WORK/missing.yaml"
