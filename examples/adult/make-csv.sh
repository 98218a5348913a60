#!/usr/bin/env bash
# Rebuild a census table in the shape of UCI Adult from the bundled a9a
# (LIBSVM), with the dirt real exports carry, for the walk-through in
# docs/lifecycle.md:
#   examples/adult/make-csv.sh data/a9a/a9a   > adult.csv        # dirty, labelled
#   examples/adult/make-csv.sh data/a9a/a9a.t --clean --no-label > new.csv
#
# a9a is Adult after J. Platt's encoding: 14 groups of binary features, one
# per Adult column, one feature on per group (none where Adult had "?";
# workclass, occupation and native-country). This script turns each group
# back into one column: the 6 continuous columns, which a9a keeps only as
# quantile bins, become the bin number (1..5, or 0/1 for the capital
# columns); the 8 categorical ones become the code of their value
# ("occupation-7"), since a9a does not keep the values' names; "?" stays
# "?". The first column, `id`, numbers the people (a9a's line number): it
# is no feature (prep --ignore id), but it tells a person exported twice
# from two people whose binned answers happen to agree. The label column
# `income` is ">50K" or "<=50K".
#
# Unless --clean, it adds dirt at fixed rows (the same file every time):
# empty cells, "NA", a number written as text, NaN and Inf, rows cut short
# (ragged), exact duplicate rows, labels that are neither class, and a
# constant column. `parasol prep` reports each kind with its line numbers.
set -euo pipefail
usage() { echo "usage: $0 A9A_FILE [--clean] [--no-label]" >&2; exit 2; }
[ $# -ge 1 ] || usage
in=$1
shift
clean=0 label=1
for a in "$@"; do
  case $a in
    --clean) clean=1 ;;
    --no-label) label=0 ;;
    *) usage ;;
  esac
done
[ -r "$in" ] || { echo "$0: cannot read $in" >&2; exit 1; }

awk -v clean=$clean -v label=$label '
BEGIN {
  # a9a feature ranges of Adult'"'"'s 14 columns, in Adult'"'"'s order
  split("age workclass fnlwgt education education_num marital_status occupation " \
        "relationship race sex capital_gain capital_loss hours_per_week native_country", name, " ")
  split("1 6 14 19 35 40 47 61 67 72 74 76 78 83", lo, " ")
  split("5 13 18 34 39 46 60 66 71 73 75 77 82 123", hi, " ")
  split("1 0 1 0 1 0 0 0 0 0 1 1 1 0", numeric, " ")
  ncol = 14
  for (c = 1; c <= ncol; c++)
    for (f = lo[c]; f <= hi[c]; f++) col[f] = c
  head = "id"
  for (c = 1; c <= ncol; c++) head = head "," name[c]
  if (!clean) head = head ",source"
  if (label) head = head ",income"
  print head
}
{
  for (c = 1; c <= ncol; c++) cell[c] = "?"
  for (i = 2; i <= NF; i++) {
    split($i, kv, ":")
    f = kv[1] + 0
    c = col[f]
    if (numeric[c]) cell[c] = (hi[c] - lo[c] == 1) ? f - lo[c] : f - lo[c] + 1
    else cell[c] = name[c] "-" (f - lo[c] + 1)
  }
  y = ($1 + 0 > 0) ? ">50K" : "<=50K"
  n = NR
  if (!clean) {
    if (n % 211 == 5)  cell[1] = ""          # a missing age
    if (n % 307 == 11) cell[13] = "NA"       # missing hours, spelt NA
    if (n % 401 == 17) cell[5] = "twelve"    # text in a numeric column
    if (n % 503 == 23) cell[3] = "NaN"
    if (n % 601 == 29) cell[13] = "inf"
    if (n % 1009 == 31) y = "unknown"        # neither class
  }
  line = n
  for (c = 1; c <= ncol; c++) line = line "," cell[c]
  if (!clean) line = line ",census-1994"     # the same in every row
  if (!clean && n % 1499 == 37) { sub(/,[^,]*$/, "", line) }   # a cell lost: ragged
  if (label) line = line "," y
  print line
  if (!clean && n % 997 == 41) print line    # exported twice
}' "$in"
