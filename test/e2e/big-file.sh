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
run_master -m t1 -s "$SRC" -t "$DST" --rate 4g -w 30 > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "exit $?"; }
cat "$WORK/out"
cmp "$f" "$(disk t1)/huge.img" || fail "content differs"
verify "$SRC" "$(disk t1)"
used=$(du -k "$(disk t1)/huge.img" | cut -f1)
[ "$used" -lt 102400 ] || fail "target copy is not sparse ($used KiB allocated)"
echo "allocated on target: $used KiB"
echo PASS
