#!/usr/bin/env bash
# A target whose disk cannot hold the old and the new version side by side:
# without -X it fails that file cleanly with ENOSPC (old version intact, no
# temp file left) while the other target completes; with -X it succeeds.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
# t1: a 7 MiB tmpfs at the destination holding a 4 MB old version
nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/t1.pid")" -m mount -t tmpfs -o size=7m tmpfs "$DST"
T1="nsenter -t $(cat "$MRSYNC_TEST_HOSTS/t1.pid") -m"
head -c 4000000 /dev/urandom > "$SRC/data.bin"
echo small > "$SRC/small.txt"
head -c 4000000 /dev/zero > "$WORK/old.bin"
$T1 cp "$WORK/old.bin" "$DST/data.bin"

run_rc "$WORK/out" -m t1,t2 -s "$SRC" -t "$DST" --rate 300m -w 20
rc=$RC
cat "$WORK/out"
[ $rc = 2 ] || fail "exit $rc, want 2"
grep -Eq '^t1 +FAILED' "$WORK/out" || fail "t1 not reported FAILED"
grep -q 'data.bin: .*ENOSPC' "$WORK/out" || fail "ENOSPC not reported"
grep -Eq '^t2 +OK' "$WORK/out" || fail "t2 did not complete"
verify "$SRC" "$(disk t2)"
$T1 cmp -s "$DST/data.bin" "$WORK/old.bin" || fail "t1's old version was damaged"
$T1 ls -a "$DST" | grep -q '\.mrsync\.' && fail "temp file left on t1"

run_master -m t1,t2 -s "$SRC" -t "$DST" --rate 300m -w 20 -X > "$WORK/out2" 2>&1 || { rc=$?; cat "$WORK/out2"; fail "-X run exit $rc"; }
cat "$WORK/out2"
$T1 cmp "$DST/data.bin" "$SRC/data.bin" || fail "-X did not deliver"
$T1 rsync -aHn --itemize-changes --checksum "$SRC/" "$DST/" | grep . && fail "t1 differs after -X"
echo PASS
