#!/usr/bin/env bash
# A tree of 3,000 small files (0.5-4 KB) to three targets: every copy exact,
# the targets answer many files per datagram (Acks): at most 0.25 feedback
# datagrams per target per file (one each for OPEN and EOF would be two), and
# the master opens and ends many files per datagram (Opens, Eofs): at most
# 0.5 control datagrams per file; the small files go many to a pack (one flow:
# one OPEN, pages shared), so the pages sent are within 5% of the tree's bytes
# in full pages (a page per file would be 30% more). The same tree again with
# 5% and 2% random loss at two targets: every copy exact (a pack's lost pages
# are repaired as a file's). Then the same push to targets that can hold only 160 descriptors
# (ulimit -n): the window holds to what they say they can receive at once
# (48 files), and every file still arrives.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 3
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST"
awk 'BEGIN { srand(7); for (i = 0; i < 3000; i++) printf "%d %d\n", i, 512 + int(rand() * 3584) }' |
  while read -r i sz; do d="$SRC/d$((i % 30))"; mkdir -p "$d"; head -c "$sz" /dev/urandom > "$d/f$i"; done
for i in 1 2 3; do host_mounts "t$i" "$DST" >/dev/null; done

run_master -m t1,t2,t3 -s "$SRC" -t "$DST" -w 20 > "$WORK/out1" 2>&1 || { rc=$?; cat "$WORK/out1"; fail "first push exit $rc"; }
cat "$WORK/out1"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
grep -q '3 of 3 targets OK' "$WORK/out1" || fail "not 3 of 3 OK"
line=$(grep '^feedback: ' "$WORK/out1") || fail "no feedback line"
per=$(echo "$line" | sed -n 's/.* (\([0-9.]*\) per target per file).*/\1/p')
ctl=$(echo "$line" | sed -n 's/.*control from the master: [0-9]* packets (\([0-9.]*\) per file).*/\1/p')
[ -n "$per" ] && [ -n "$ctl" ] || fail "feedback line unreadable: $line"
awk -v p="$per" 'BEGIN { exit !(p <= 0.25) }' || fail "feedback $per datagrams per target per file (at most 0.25)"
# the master's OPENs and EOFs go many files to a datagram too (one each per file would be 2)
awk -v p="$ctl" 'BEGIN { exit !(p <= 0.5) }' || fail "control $ctl datagrams per file from the master (at most 0.5)"
total=$(grep '^total: ' "$WORK/out1")
packed=$(echo "$total" | sed -n 's/.*; \([0-9]*\) small ones in \([0-9]*\) packs.*/\1/p')
# (one may go alone: the last one the queue held when the window had room)
[ -n "$packed" ] && [ "$packed" -ge 2990 ] || fail "the small files did not go in packs: $total"
pages=$(echo "$total" | sed -n 's/.* files sent ([^)]*), \([0-9]*\) pages.*/\1/p')
bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
awk -v p="$pages" -v b="$bytes" 'BEGIN { exit !(p <= 1.05 * b / 1400 + 10) }' || fail "$pages pages for $bytes bytes: not packed"

# with loss at two of the targets: the packs' lost pages repaired, every copy exact
for i in 1 2 3; do find "$(disk t$i)" -mindepth 1 -delete; done
loss t2 50; loss t3 20
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" -w 20 > "$WORK/out3" 2>&1 || { rc=$?; cat "$WORK/out3"; fail "push with loss exit $rc"; }
grep -E '^(total|repair):' "$WORK/out3"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
grep -q '3 of 3 targets OK' "$WORK/out3" || fail "not 3 of 3 OK with loss"
[ "$(loss_count t2)" -gt 0 ] || fail "the loss rule dropped nothing"
for i in 2 3; do ip netns exec "${PFX}t$i" nft delete table inet loss; done

# targets with 160 descriptors: (160 - 64) / 2 = 48 files at once (two descriptors each: the temp file, its directory)
cat > "$WORK/lowfd-rsh" <<EOS
#!/bin/sh
ulimit -n 160
exec "$NSRSH" "\$@"
EOS
chmod +x "$WORK/lowfd-rsh"
for i in 1 2 3; do find "$(disk t$i)" -mindepth 1 -delete; done
ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -r "$WORK/lowfd-rsh" -m t1,t2,t3 -s "$SRC" -t "$DST" -w 20 -v 2 > "$WORK/out2" 2> "$WORK/log2" \
  || { rc=$?; cat "$WORK/out2" "$WORK/log2"; fail "push to targets with few descriptors exit $rc"; }
grep -q '"window: 48 files' "$WORK/log2" || { cat "$WORK/out2"; fail "the window did not hold to the targets' 48 files"; }
grep -q '3 of 3 targets OK' "$WORK/out2" || { cat "$WORK/out2"; fail "not 3 of 3 OK with few descriptors"; }
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
echo PASS
