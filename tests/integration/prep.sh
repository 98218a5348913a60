#!/usr/bin/env bash
# parasol prep on a dirty CSV made here: every kind of dirt is counted in
# prep.json with its line numbers, the splits' shards exist, a non-empty
# DIR is refused without --force, the input is never written, and bad
# input (empty, binary, bad --split, no such label column) gets a message
# that names it. Then LIBSVM with bad lines and duplicates.
. "$(dirname "$0")/common.inc"
csv="$WORK/dirty.csv"
{
  echo "age,color,const,income,y"
  echo "25,red,1,100,yes"      # 2
  echo "30,blue,1,200,no"      # 3
  echo "35,green,1,?,yes"      # 4  missing income
  echo "40,red,1,400"          # 5  ragged
  echo "45,blue,1,abc,no"      # 6  text in a numeric column
  echo "50,red,1,inf,yes"      # 7  infinite
  echo "55,green,1,NaN,no"     # 8  missing (NaN)
  echo "30,blue,1,200,no"      # 9  duplicate of 3
  echo "60,red,1,600,"         # 10 missing label
  echo "62,red,1,650,maybe"    # 11 a third label under --kind binary
  for i in $(seq 12 211); do   # 12..211
    if [ $((i % 2)) = 0 ]; then c=red; y=yes; else c=blue; y=no; fi
    echo "$((i % 50 + 18)),$c,1,$((i * 10)),$y"
  done
} > "$csv"
sum_before=$(sha256sum "$csv")
out="$WORK/out"
"$PARASOL" prep "$csv" --format csv --label y --kind binary --standardize --shards 3 \
  --seed 5 --out "$out" > "$WORK/prep.log" 2>&1 || { cat "$WORK/prep.log"; fail "prep failed"; }
j="$out/prep.json"
check() { # JQ-EXPR WANT WHAT
  local got
  got=$(jq -c "$1" "$j")
  [ "$got" = "$2" ] || { cat "$WORK/prep.log"; fail "$3: $1 = $got, want $2"; }
}
check .rows_in 210 "rows in"
check .rows_dropped 6 "rows dropped"
check .rows_out 204 "rows out"
check .dropped.ragged.lines '[5]' "ragged"
check .dropped.text.lines '[6]' "text in a numeric column"
check .dropped.infinite.lines '[7]' "infinite"
check .dropped.duplicate.lines '[9]' "duplicate"
check .dropped.label.lines '[10,11]' "bad labels"
check .dropped.missing.count 0 "missing cells are imputed by default"
check '.columns[] | select(.name == "income") | .missing' 2 "income's missing cells"
check '.columns[] | select(.name == "const") | .why' '"constant"' "constant column"
check '.columns[] | select(.name == "color") | .kind' '"onehot"' "categorical column"
check '.labels.names' '["no","yes"]' "classes"
check '.recipe.features' 5 "features: age, 3 colours, income"
check '.standardize.mean | length' 5 "transform"
check '[.splits[].rows] | add' 204 "split rows"
for s in train valid test; do
  for p in 0 1 2; do
    [ -s "$out/$s/part-0000$p.psp" ] || fail "$out/$s/part-0000$p.psp missing"
  done
done
grep -q "ragged .* lines 5" "$WORK/prep.log" || { cat "$WORK/prep.log"; fail "summary without the ragged line"; }
ok "dirty CSV: $(jq -c '[.rows_in, .rows_out, .splits.train.rows, .splits.valid.rows, .splits.test.rows]' "$j")"

# A non-empty DIR: refused without --force, then replaced with it.
"$PARASOL" prep "$csv" --out "$out" > "$WORK/again.log" 2>&1 && fail "a non-empty DIR was written"
grep -q -- "--out .*out is not empty: use --force" "$WORK/again.log" || { cat "$WORK/again.log"; fail "no --force message"; }
"$PARASOL" prep "$csv" --out "$out" --force --missing drop --split 1,0,0 > "$WORK/force.log" 2>&1 ||
  { cat "$WORK/force.log"; fail "--force failed"; }
check .dropped.missing.lines '[4,8]' "--missing drop"
[ -d "$out/valid" ] && fail "a split of fraction 0 was left from the earlier run"
[ "$(ls -A "$out" | sort | tr '\n' ' ')" = "prep.json train " ] || fail "left behind: $(ls -A "$out")"
# A split dir holding a file prep did not write: refused, and DIR as it was.
touch "$out/train/notes.txt"
sum_json=$(sha256sum "$out/prep.json")
"$PARASOL" prep "$csv" --out "$out" --force > "$WORK/foreign.log" 2>&1 && fail "a foreign file in DIR/train was removed"
grep -q "train holds notes.txt, which prep did not write" "$WORK/foreign.log" || { cat "$WORK/foreign.log"; fail "no message for notes.txt"; }
[ "$(sha256sum "$out/prep.json")" = "$sum_json" ] || fail "prep.json changed by a failed run"
[ -f "$out/train/part-00000.psp" ] || fail "a failed run removed the earlier shards"
ls -A "$out" | grep -q prep.tmp && fail "a failed run left its .prep.tmp directory"
rm "$out/train/notes.txt"
ok "non-empty DIR refused, --force replaces it, a failed run leaves it as it was"

# The input inside DIR/train, or DIR the input itself: refused.
cp "$csv" "$out/train/in.csv"
"$PARASOL" prep "$out/train/in.csv" --out "$out" --force > "$WORK/self.log" 2>&1 && fail "prep would overwrite its input"
grep -q "never writes its input" "$WORK/self.log" || { cat "$WORK/self.log"; fail "no message for the input inside DIR"; }
"$PARASOL" prep "$csv" --out "$csv" > "$WORK/self2.log" 2>&1 && fail "--out INPUT accepted"
grep -q "is the input file" "$WORK/self2.log" || { cat "$WORK/self2.log"; fail "no message for --out INPUT"; }
[ "$(sha256sum "$csv")" = "$sum_before" ] || fail "the input changed"
ok "the input is never written"

# Bad input: a clear message naming the file, line or argument.
bad() { # NAME WANT ARGS...
  local name=$1 want=$2
  shift 2
  "$PARASOL" prep "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  [ $rc -ne 0 ] || fail "$name: accepted"
  [ $rc -lt 128 ] || fail "$name: crashed ($rc)"
  grep -qE -- "$want" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name: no '$want'"; }
  [ -e "$WORK/o_$name" ] && fail "$name: wrote its DIR"
  ok "$name: $(head -1 "$WORK/$name.log")"
}
: > "$WORK/empty.csv"
head -c 300 /bin/sh > "$WORK/binary.csv"
printf 'a,b\n' > "$WORK/header.csv"
bad empty "empty.csv: the file is empty" "$WORK/empty.csv" --out "$WORK/o_empty"
bad binary "binary.csv:1: .*(not text|NUL byte)" "$WORK/binary.csv" --out "$WORK/o_binary"
bad header "header.csv: no data rows" "$WORK/header.csv" --out "$WORK/o_header"
bad split_sum "--split 0.8,0.1,0.2: the fractions sum to 1.1" "$csv" --split 0.8,0.1,0.2 --out "$WORK/o_split_sum"
bad split_text "--split needs TRAIN,VALID,TEST" "$csv" --split half --out "$WORK/o_split_text"
bad label "dirty.csv:1: --label price: no such column \(columns: age, color" "$csv" --label price --out "$WORK/o_label"
bad no_out "--out DIR is needed" "$csv"
bad format "--format needs csv" "$csv" --format parquet --out "$WORK/o_format"
bad missing_file "cannot read .*nope.csv" "$WORK/nope.csv" --out "$WORK/o_missing_file"
bad std_sparse "--standardize is for csv and idx data, not --format libsvm" "$A9A" --format libsvm --standardize --out "$WORK/o_std_sparse"

# LIBSVM: a bad line and a duplicate are dropped and reported.
svm="$WORK/small.svm"
{ head -n 300 "$A9A"; echo "+1 5:1 3:1"; sed -n '1p' "$A9A"; } > "$svm"
"$PARASOL" prep "$svm" --format libsvm --out "$WORK/svm" --shards 2 > "$WORK/svm.log" 2>&1 ||
  { cat "$WORK/svm.log"; fail "libsvm prep failed"; }
j="$WORK/svm/prep.json"
check .rows_in 302 "libsvm rows in"
check .dropped.bad_record.count 1 "libsvm bad line"
# a9a's first 300 lines hold duplicates of their own; the copy of line 1 is
# record 301 (records count the rows read, the bad line not among them).
check '[.dropped.duplicate.lines[] | select(. == 301)] | length' 1 "libsvm duplicate"
check .recipe null "libsvm has no recipe"
jq -r .dropped.bad_record.first "$j" | grep -q "small.svm:301: " || fail "bad line not named: $(jq -r .dropped.bad_record.first "$j")"
ok "libsvm: $(jq -c '[.rows_in, .rows_out]' "$j")"
