#!/usr/bin/env bash
# A malformed training line: abort with file:line by default; with
# data.on_error=skip the run completes and reports what it skipped.
. "$(dirname "$0")/common.inc"
bad="$WORK/a9a.bad"
{ head -n 1000 "$A9A"; echo "+1 5:1 3:1"; sed -n '1001,$p' "$A9A"; echo "-1 7:abc"; } > "$bad"
timeout 60 "$PARASOL" launch examples/a9a.yaml --set data.train="$bad" \
  --set output.dir="$WORK/run1" > "$WORK/abort.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "bad data accepted"
grep -qE "a9a.bad:1001: .*increas" "$WORK/abort.log" || { cat "$WORK/abort.log"; fail "no file:line for the bad line"; }
assert_all_gone "$WORK/abort.log"
ok "abort: $(grep -m1 'a9a.bad:1001' "$WORK/abort.log")"
timeout 60 "$PARASOL" launch examples/a9a.yaml --set data.train="$bad" --set data.on_error=skip \
  --set output.dir="$WORK/run2" > "$WORK/skip.log" 2>&1 || { cat "$WORK/skip.log"; fail "skip mode failed"; }
n=$(sed -n 's/.*skipped \([0-9]*\) malformed lines.*/\1/p' "$WORK/skip.log" | awk '{ s += $1 } END { print s }')
[ "$n" = "2" ] || fail "skipped '$n' lines, want 2"
ok "skip: 2 lines skipped and training finished"
