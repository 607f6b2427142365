#!/usr/bin/env bash
# A file above 4 GiB (sparse, with data at the start, across the 4 GiB mark
# and at the end): page offsets past 32 bits land where they belong, and the
# copy stays sparse on the target.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 1
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST"
host_mounts t1 "$DST" >/dev/null
f="$SRC/huge.img"
truncate -s $((4 * 1024 * 1024 * 1024 + 1234567)) "$f"
head -c 1000000 /dev/urandom | dd of="$f" conv=notrunc status=none
head -c 3000000 /dev/urandom | dd of="$f" bs=1 seek=$((4 * 1024 * 1024 * 1024 - 1000000)) conv=notrunc status=none
head -c 5000 /dev/urandom | dd of="$f" bs=1 seek=$((4 * 1024 * 1024 * 1024 + 1234567 - 5000)) conv=notrunc status=none
run_master -m t1 -s "$SRC" -t "$DST" --rate 4g -w 30 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "exit $rc"; }
cat "$WORK/out"
cmp "$f" "$(disk t1)/huge.img" || fail "content differs"
verify "$SRC" "$(disk t1)"
used=$(du -k "$(disk t1)/huge.img" | cut -f1)
[ "$used" -lt 102400 ] || fail "target copy is not sparse ($used KiB allocated)"
echo "allocated on target: $used KiB"

# A file of more than 2^31 pages (a sparse 1 TiB at 512-byte pages): page
# numbers and parity blocks would wrap; the master refuses it up front, names
# it, and sends the rest
rm "$f"
truncate -s $((2147483648 * 512 + 1)) "$SRC/too-big.img"
echo small > "$SRC/small"
set +e
run_master -m t1 -s "$SRC" -t "$DST" --page-size 512 --rate 100m -w 10 > "$WORK/out2" 2>&1
rc=$?
set -e
cat "$WORK/out2"
[ $rc = 2 ] || fail "a file of 2^31 pages and more: exit $rc, want 2"
grep -q 'too-big.img: too big: more than 2147483648 pages of 512 bytes' "$WORK/out2" || fail "the file too big is not named"
[ "$(cat "$(disk t1)/small")" = small ] || fail "the rest was not sent"
[ ! -e "$(disk t1)/too-big.img" ] || fail "something of the file too big reached the target"
ls -a "$(disk t1)" | grep -q '\.mrsync\.' && fail "temp files left"
echo PASS
