#!/usr/bin/env bash
# A target whose subdirectory is read-only (a read-only bind mount: root is
# not stopped by modes): the files there fail cleanly with the reason, the
# rest of that target and the other target complete; exit 2. Small files
# there too: they go in packs (pack.ts), where each file's failure is its own
# and the pack's other files are delivered.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 2
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC/locked" "$SRC/open" "$DST"
for i in 1 2 3; do head -c 50000 /dev/urandom > "$SRC/locked/f$i"; head -c 50000 /dev/urandom > "$SRC/open/f$i"; done
for i in 1 2 3; do head -c 2000 /dev/urandom > "$SRC/locked/s$i"; head -c 3000 /dev/urandom > "$SRC/open/s$i"; done
for i in 1 2; do host_mounts "t$i" "$DST" >/dev/null; done
mkdir -p "$(disk t1)/locked"
T1="nsenter -t $(cat "$MRSYNC_TEST_HOSTS/t1.pid") -m"
$T1 mount --bind "$DST/locked" "$DST/locked"
$T1 mount -o remount,bind,ro "$DST/locked"

run_rc "$WORK/out" -m t1,t2 -s "$SRC" -t "$DST" --rate 100m -w 10
rc=$RC
grep -v '^ *[0-9]* [0-9]*$' "$WORK/out"
[ $rc = 2 ] || fail "exit $rc, want 2"
grep -Eq '^t1 +FAILED' "$WORK/out" || fail "t1 not FAILED"
[ "$(grep -Ec '^  t1: locked/[fs][123] \(.*EROFS' "$WORK/out")" = 6 ] || fail "the six read-only files are not each reported with EROFS"
grep -Eq 'pack' "$WORK/out" || fail "the small files did not go in packs"
# the files counted as sent to each: t1 the six outside the read-only directory, t2 all twelve
grep -Eq '^t1 +FAILED +6 ' "$WORK/out" || fail "t1's files sent are not the six it got"
grep -Eq '^t2 +OK +12 ' "$WORK/out" || fail "t2's files sent are not twelve"
verify "$SRC" "$(disk t2)"
verify "$SRC/open" "$(disk t1)/open"
echo PASS
