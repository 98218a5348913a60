#!/usr/bin/env bash
# Bad input for the models (issue 8): each refused with a message that names
# the file, line or field and the reason; no process crashes (SIGILL, SIGABRT,
# SIGBUS, SIGFPE, SIGSEGV), and the launch exits 1 or 2.
. "$(dirname "$0")/common.inc"

# refused NAME REGEX ARGS... : `parasol launch ARGS` fails (exit 1 or 2),
# its output matches REGEX, and no process is left.
refused() {
  local name=$1 want=$2 rc
  shift 2
  timeout 120 "$PARASOL" launch "$@" --set output.dir="$WORK/$name" > "$WORK/$name.log" 2>&1
  rc=$?
  [ $rc -eq 1 ] || [ $rc -eq 2 ] || { tail "$WORK/$name.log"; fail "$name: exit status $rc"; }
  grep -qE -- "$want" "$WORK/$name.log" || { tail -20 "$WORK/$name.log"; fail "$name: no /$want/"; }
  assert_all_gone "$WORK/$name.log"
  grep -qE "signal (4|6|7|8|11) " "$WORK/$name.log" && fail "$name: a process crashed"
  ok "$name: $(grep -E -m1 -- "$want" "$WORK/$name.log")"
}

TRA=data/optdigits/optdigits.tra
# Wrong model.classes: optdigits has classes 0..9.
refused classes "optdigits.tra:[0-9]+: label [5-9] outside 0\.\.4 \(model\.classes: 5\)" \
  examples/optdigits-softmax.yaml --set model.classes=5
# A CSV label column that does not exist, by number and by name.
refused nocolumn "optdigits.tra:1: .*99.*65 columns" examples/optdigits-softmax.yaml --set data.label=99
printf 'a,b,c,target\n1,2,3,0\n4,5,6,1\n7,8,9,1\n' > "$WORK/named.csv"
refused noname "named.csv:1: .*'label'" examples/optdigits-softmax.yaml --set data.train="$WORK/named.csv" \
  --set data.test="$WORK/named.csv" --set data.label=label --set model.features=3
# Labels 1..K: the message says they look 1-based and names data.label_offset.
awk -F, 'BEGIN { OFS = "," } { $NF = $NF + 1; print }' "$TRA" > "$WORK/onebased.csv"
refused onebased "label_offset" examples/optdigits-softmax.yaml --set data.train="$WORK/onebased.csv"
# An idx images file whose header disagrees with its size.
zcat data/mnist/t10k-images-idx3-ubyte.gz | head -c 1000000 > "$WORK/short-images"
refused idxsize "short-images: header says 10000 images of 28x28" examples/mnist-softmax.yaml \
  --set data.train="$WORK/short-images"
# A ratings file with a rating that is not a number.
printf '1\t2\t4\t881250949\n3\t4\t5\t881250949\n5\t6\tabc\t881250949\n7\t8\t3\t881250949\n' > "$WORK/r.data"
refused rating "r.data:3: rating 'abc' is not a number" examples/movielens-mf.yaml \
  --set data.train="$WORK/r.data" --set data.test="$WORK/r.data"
# The config refuses what cannot work before any process starts.
refused noclasses "model.classes=0: required for model.type softmax" examples/optdigits-softmax.yaml \
  --set model.classes=0
refused mfformat "a9a.yaml:[0-9]+: data.format: model.type mf trains on ratings: needs data.format ratings \(or prepared" examples/a9a.yaml \
  --set model.type=mf
# A cnn on data without an image shape.
refused noimage "data.format: the cnn model needs images" examples/a9a.yaml --set model.type=cnn \
  --set model.classes=2 --set 'model.conv=8x3'
# A data file that is not there: the message says where to get it (data.source).
refused nodata "u1.missing': cannot open: .*; get the data from https://grouplens.org/datasets/movielens/100k/" \
  examples/movielens-mf.yaml --set data.train="$WORK/u1.missing"
