#!/usr/bin/env bash
# The command line: every command refuses an option it does not take (exit
# 2, naming option and command) and takes "--opt=value" as "--opt value";
# --version names each library; predict reads standard input and unlabeled
# lines, prints "CLASS PROBABILITY", honours --threshold and writes --output
# whole or not at all; eval names a line without a label.
. "$(dirname "$0")/common.inc"
NOCFG="$WORK/none.yaml" # never read: option errors come before the config

# refused OPT CMD ARGS... : exit 2, and the message names OPT and CMD.
refused() {
  local opt=$1 cmd=$2 rc
  shift 2
  timeout 20 "$PARASOL" "$cmd" "$@" > "$WORK/refused.out" 2> "$WORK/refused.err"
  rc=$?
  [ $rc -eq 2 ] || { cat "$WORK/refused.err"; fail "$cmd $*: exit $rc, want 2"; }
  grep -qF -- "parasol $cmd: '$opt' is not an option of '$cmd'" "$WORK/refused.err" ||
    { cat "$WORK/refused.err"; fail "$cmd $*: message does not name $opt and $cmd"; }
  ok "refused: $(cat "$WORK/refused.err")"
}

# ---- a model to predict with: 1 server, 1 worker, 1 epoch ----
launch_ok train --set cluster.servers=1 --set cluster.workers=1 --set training.epochs=1
M="$WORK/train/model.bin"
[ -s "$M" ] || fail "no model written"

# ---- options a command does not take ----
refused --rank launch "$NOCFG" --rank 1
refused --set predict "$M" "$A9AT" --set x=1
refused --rank eval "$M" "$A9AT" --rank 3
refused --rank scheduler "$NOCFG" --rank 1
refused --announce worker "$NOCFG" --announce
refused --output eval "$M" "$A9AT" --output "$WORK/x"
refused --threshold launch "$NOCFG" --threshold=0.5
[ ! -e "$WORK/x" ] || fail "eval wrote --output"

# ---- "--opt=value" is "--opt value" ----
# The worker gets past parsing (its log is tagged with rank 1) and fails on
# the scheduler that never answers, with a run error, not a usage error.
timeout 30 "$PARASOL" worker examples/a9a.yaml --rank=1 --set=cluster.register_timeout=1 \
  --set cluster.scheduler=tcp://127.0.0.1:1 > "$WORK/rank.out" 2> "$WORK/rank.err"
rc=$?
[ $rc -eq 1 ] || { cat "$WORK/rank.err"; fail "worker --rank=1: exit $rc, want 1"; }
grep -q '^\[worker 1\] .*no welcome from the scheduler' "$WORK/rank.err" ||
  { cat "$WORK/rank.err"; fail "worker --rank=1 was not taken as rank 1"; }
"$PARASOL" server examples/a9a.yaml --rank=2 --help | grep -q "usage: parasol server" ||
  fail "server --rank=2 --help"
ok "--rank=1 and --set=k=v accepted: $(head -1 "$WORK/rank.err")"

# ---- version ----
"$PARASOL" --version > "$WORK/v1" || fail "--version failed"
"$PARASOL" version > "$WORK/v2" || fail "version failed"
cmp -s "$WORK/v1" "$WORK/v2" || fail "--version and version differ"
grep -qE '^parasol [0-9]+\.[0-9]+\.[0-9]+$' "$WORK/v1" || { cat "$WORK/v1"; fail "no parasol version"; }
for lib in libzmq protobuf-c libuv libfyaml OpenBLAS jansson xxHash; do
  grep -qE "^  $lib +[0-9]+\.[0-9]+" "$WORK/v1" || { cat "$WORK/v1"; fail "no $lib version"; }
done
ok "version: $(tr '\n' ' ' < "$WORK/v1" | tr -s ' ')"

# ---- predict: output, standard input, unlabeled lines ----
"$PARASOL" predict "$M" "$A9AT" > "$WORK/pred" || fail "predict failed"
[ "$(wc -l < "$WORK/pred")" -eq 16281 ] || fail "predict printed $(wc -l < "$WORK/pred") lines"
awk 'NF != 2 || ($1 != 0 && $1 != 1) || $2 < 0 || $2 > 1 || $1 != ($2 >= 0.5) { exit 1 }' \
  "$WORK/pred" || fail "lines are not 'CLASS PROBABILITY' with threshold 0.5"
"$PARASOL" predict "$M" - < "$A9AT" > "$WORK/pred.stdin" || fail "predict from stdin failed"
cmp -s "$WORK/pred" "$WORK/pred.stdin" || fail "predict from '-' differs from the file"
ok "predict from stdin: $(head -1 "$WORK/pred.stdin")"
# Labels cut off, one empty line (an example with no features) appended.
{ head -n 100 "$A9AT" | cut -d' ' -f2-; echo; } > "$WORK/unlabeled"
grep -q '^[0-9]*:' "$WORK/unlabeled" || fail "test input still has labels"
"$PARASOL" predict "$M" "$WORK/unlabeled" > "$WORK/pred.unl" 2> "$WORK/pred.unl.err" ||
  { cat "$WORK/pred.unl.err"; fail "predict refused unlabeled lines"; }
[ "$(wc -l < "$WORK/pred.unl")" -eq 101 ] || fail "unlabeled: $(wc -l < "$WORK/pred.unl") lines"
head -n 100 "$WORK/pred" | cmp -s - <(head -n 100 "$WORK/pred.unl") ||
  fail "unlabeled predictions differ from labelled ones"
ok "predict on unlabeled lines: $(tail -1 "$WORK/pred.unl") for the empty one"

# ---- --threshold ----
# every_line FILE AWK-CONDITION: true if FILE has all 16281 lines and each meets it.
every_line() { awk "!($2) { exit 1 } END { if (NR != 16281) exit 1 }" "$1"; }
"$PARASOL" predict "$M" "$A9AT" --threshold 0 > "$WORK/t0" || fail "--threshold 0 failed"
every_line "$WORK/t0" '$1 == 1' || fail "--threshold 0: not every class is 1"
"$PARASOL" predict "$M" "$A9AT" --threshold=1 > "$WORK/t1" || fail "--threshold=1 failed"
every_line "$WORK/t1" '$1 == 0' || fail "--threshold=1: not every class is 0"
"$PARASOL" predict "$M" "$A9AT" --threshold 0.3 > "$WORK/t03" || fail "--threshold 0.3 failed"
every_line "$WORK/t03" '$1 == ($2 >= 0.3)' || fail "--threshold 0.3: class disagrees with probability"
cut -d' ' -f2 "$WORK/t0" | cmp -s - <(cut -d' ' -f2 "$WORK/pred") || fail "--threshold changed probabilities"
for t in 1.5 -0.1 abc nan ""; do
  "$PARASOL" predict "$M" "$A9AT" --threshold "$t" > "$WORK/t.out" 2> "$WORK/t.err"
  rc=$?
  [ $rc -eq 2 ] || fail "--threshold '$t': exit $rc, want 2"
  grep -qF "needs a number in [0, 1], got '$t'" "$WORK/t.err" || { cat "$WORK/t.err"; fail "--threshold '$t' message"; }
  [ ! -s "$WORK/t.out" ] || fail "--threshold '$t' printed predictions"
done
ok "threshold: 0 all 1, 1 all 0, out of range refused"

# ---- --output ----
out="$WORK/out/pred.txt"
mkdir -p "$WORK/out"
"$PARASOL" predict "$M" "$A9AT" --output "$out" > "$WORK/o.stdout" || fail "--output failed"
cmp -s "$out" "$WORK/pred" || fail "--output file differs from stdout predictions"
[ ! -s "$WORK/o.stdout" ] || fail "--output still printed to stdout"
[ ! -e "$out.tmp" ] || fail "--output left $out.tmp"
"$PARASOL" predict "$M" - --output="$out.2" < "$A9AT" && cmp -s "$out.2" "$WORK/pred" ||
  fail "--output=FILE from stdin"
# A failed run leaves an existing FILE as it was, and no FILE.tmp.
echo "old content" > "$out"
printf '1 3:1\n1 x:1\n' > "$WORK/bad"
"$PARASOL" predict "$M" "$WORK/bad" --output "$out" 2> "$WORK/o.err" && fail "bad data accepted"
grep -q "bad:2: " "$WORK/o.err" || { cat "$WORK/o.err"; fail "bad data: no file:line"; }
[ "$(cat "$out")" = "old content" ] || fail "a failed predict replaced $out"
[ ! -e "$out.tmp" ] || fail "a failed predict left $out.tmp"
# Unwritable: the message names the file; nothing is created.
nodir="$WORK/no-such-dir/pred.txt"
"$PARASOL" predict "$M" "$A9AT" --output "$nodir" 2> "$WORK/o.err" && fail "unwritable --output accepted"
grep -qF "cannot write $nodir" "$WORK/o.err" || { cat "$WORK/o.err"; fail "unwritable: file not named"; }
"$PARASOL" predict "$M" "$A9AT" --output "$WORK/out" 2> "$WORK/o.err" && fail "--output DIR accepted"
grep -qF "cannot write $WORK/out: not a regular file" "$WORK/o.err" ||
  { cat "$WORK/o.err"; fail "--output DIR: message"; }
"$PARASOL" predict "$M" "$A9AT" --output= 2> "$WORK/o.err"
[ $? -eq 2 ] && grep -q "needs a file name" "$WORK/o.err" || fail "empty --output accepted"
ok "--output: written whole, old file kept on failure: $(head -1 "$WORK/o.err")"

# ---- eval: labels required, '-' accepted ----
"$PARASOL" eval "$M" "$A9AT" > "$WORK/eval" || fail "eval failed"
"$PARASOL" eval "$M" - < "$A9AT" > "$WORK/eval.stdin" || fail "eval from stdin failed"
cmp -s "$WORK/eval" "$WORK/eval.stdin" || fail "eval from '-' differs from the file"
grep -q '^examples 16281$' "$WORK/eval.stdin" || fail "eval from stdin: $(cat "$WORK/eval.stdin")"
printf '1 3:1\n\n5:1 7:1\n-1 2:1\n' | "$PARASOL" eval "$M" - > "$WORK/e.out" 2> "$WORK/e.err"
rc=$?
[ $rc -eq 1 ] || fail "eval on an unlabeled line: exit $rc, want 1"
grep -qF "<stdin>:3: missing label (line starts with '5:1')" "$WORK/e.err" ||
  { cat "$WORK/e.err"; fail "eval did not name the unlabeled line"; }
[ ! -s "$WORK/e.out" ] || fail "eval printed metrics for unlabeled data"
ok "eval: $(cat "$WORK/e.err")"
