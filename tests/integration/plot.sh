#!/usr/bin/env bash
# `parasol plot`: from hand-written metrics.csv files (the scheduler's
# per-epoch series, docs/metrics.md), gnuplot draws a PNG of the expected
# size; two runs go on one chart; a malformed file is named with its line,
# exit 1, and no image is left; without gnuplot the message says what to
# install.
. "$(dirname "$0")/common.inc"
command -v gnuplot > /dev/null || fail "gnuplot is not installed (./setup.sh deps installs gnuplot-nox)"

# png_check FILE WIDTH HEIGHT: the PNG signature, then IHDR's width and
# height (bytes 16..23, big-endian).
png_check() {
  local sig dims
  [ -s "$1" ] || fail "$1 was not written"
  sig=$(od -An -tx1 -N8 "$1" | tr -d ' \n')
  [ "$sig" = 89504e470d0a1a0a ] || fail "$1: not a PNG (starts $sig)"
  dims=$(od -An -tu1 -j16 -N8 "$1" |
    awk '{ printf "%d %d", (($1*256+$2)*256+$3)*256+$4, (($5*256+$6)*256+$7)*256+$8 }')
  [ "$dims" = "$2 $3" ] || fail "$1: size $dims, want $2 $3"
}

mkdir -p "$WORK/run-a" "$WORK/run-b" "$WORK/bad" "$WORK/out"
cat > "$WORK/run-a/metrics.csv" << 'EOF'
epoch,seconds,samples,train_loss,valid_accuracy,valid_logloss
1,0.41,32561,0.4123,0.8401,0.3502
2,0.80,65122,0.3402,0.8452,0.3311
3,1.22,97683,0.3301,,0.3290
EOF
cat > "$WORK/run-b/metrics.csv" << 'EOF'
epoch,seconds,samples,train_loss,valid_rmse,valid_mae
1,0.50,1000,1.20,1.10,0.90
2,0.90,2000,1.00,1.00,0.80
EOF

# ---- one run: RUN_DIR/curves.png, and its script beside it ----
timeout 60 "$PARASOL" plot "$WORK/run-a" > "$WORK/a.out" 2> "$WORK/a.err" ||
  { cat "$WORK/a.err"; fail "plot run-a failed"; }
png_check "$WORK/run-a/curves.png" 900 600
grep -q "valid_accuracy" "$WORK/run-a/curves.gp" || fail "curves.gp lacks valid_accuracy"
if grep -q "valid_rmse" "$WORK/run-a/curves.gp"; then fail "curves.gp draws an absent series"; fi
[ ! -e "$WORK/run-a/curves.png.tmp" ] || fail "curves.png.tmp left behind"
ok "one run: $(cat "$WORK/a.out"), 900x600"

# The script re-runs as it is, from anywhere, and writes the same picture.
rm "$WORK/run-a/curves.png"
(cd / && timeout 60 gnuplot "$WORK/run-a/curves.gp") 2> "$WORK/gp.err" ||
  { cat "$WORK/gp.err"; fail "gnuplot curves.gp failed"; }
png_check "$WORK/run-a/curves.png" 900 600
ok "curves.gp re-runs with gnuplot"

# ---- two runs on one chart ----
timeout 60 "$PARASOL" plot "$WORK/run-a" "$WORK/run-b/" --output "$WORK/out/both.png" \
  > /dev/null 2> "$WORK/b.err" || { cat "$WORK/b.err"; fail "plot of two runs failed"; }
png_check "$WORK/out/both.png" 900 600
for t in "'run-a train_loss'" "'run-b train_loss'" "'run-a valid_logloss'" "'run-b valid_mae'"; do
  grep -qF "$t" "$WORK/out/both.gp" || fail "both.gp lacks the line $t"
done
ok "two runs on one chart"

# Several runs without --output: plot.png in the current directory.
(cd "$WORK/out" && timeout 60 "$PARASOL" plot "$WORK/run-a" "$WORK/run-b" > /dev/null) ||
  fail "plot of two runs without --output failed"
png_check "$WORK/out/plot.png" 900 600
ok "default for several runs: plot.png"

# ---- a malformed metrics.csv: its file and line, exit 1, no image ----
bad() { # CSV-TEXT ('-': no file) WANT-IN-MESSAGE
  local rc
  rm -f "$WORK/bad/metrics.csv"
  [ "$1" = - ] || printf '%b' "$1" > "$WORK/bad/metrics.csv"
  rm -f "$WORK/out/bad.png" "$WORK/out/bad.gp"
  timeout 60 "$PARASOL" plot "$WORK/run-a" "$WORK/bad" --output "$WORK/out/bad.png" \
    > /dev/null 2> "$WORK/bad.err"
  rc=$?
  [ $rc -eq 1 ] || { cat "$WORK/bad.err"; fail "malformed csv: exit $rc, want 1"; }
  grep -qF -- "$2" "$WORK/bad.err" || { cat "$WORK/bad.err"; fail "message lacks '$2'"; }
  [ ! -e "$WORK/out/bad.png" ] && [ ! -e "$WORK/out/bad.png.tmp" ] && [ ! -e "$WORK/out/bad.gp" ] ||
    fail "malformed csv left an output file"
  ok "refused: $(cat "$WORK/bad.err")"
}
bad 'epoch,seconds,samples,train_loss\n1,0.1,5,0.5\n2,0.2,10,oops\n' \
  "$WORK/bad/metrics.csv:3: train_loss 'oops' is not a number"
bad 'epoch,seconds,samples,train_loss\n1,0.1,5\n' "$WORK/bad/metrics.csv:2:"
bad 'epoch;seconds;samples;train_loss\n1;0.1;5;0.5\n' "$WORK/bad/metrics.csv:1:"
bad '' "$WORK/bad/metrics.csv:1: empty file"
bad - "cannot read $WORK/bad/metrics.csv: No such file"

# ---- no gnuplot on PATH: a clear message, exit 1, nothing written ----
mkdir -p "$WORK/emptybin"
rm -f "$WORK/run-b/curves.png"
timeout 60 env PATH="$WORK/emptybin" "$PARASOL" plot "$WORK/run-b" > /dev/null 2> "$WORK/nognu.err"
rc=$?
[ $rc -eq 1 ] || { cat "$WORK/nognu.err"; fail "without gnuplot: exit $rc, want 1"; }
grep -qF "gnuplot not found: apt-get install gnuplot-nox" "$WORK/nognu.err" ||
  { cat "$WORK/nognu.err"; fail "without gnuplot: unclear message"; }
[ ! -e "$WORK/run-b/curves.png" ] || fail "without gnuplot: an image was written"
ok "without gnuplot: $(cat "$WORK/nognu.err")"

echo "PASS"
