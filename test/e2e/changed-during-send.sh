#!/usr/bin/env bash
# A file rewritten on the master while it is being sent: the run reports it
# and exits 2, and no target ever holds a half-old/half-new file at the name
# (nor loses the version it had), nor a hardlink of it to the version it had.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
head -c 6000000 /dev/urandom > "$SRC/moving"
ln "$SRC/moving" "$SRC/twin"
cp "$SRC/moving" "$WORK/old"
echo steady > "$SRC/steady"
head -c 3000000 /dev/urandom > "$SRC/vanishing"
# t2 holds an older version of the file under its final name
head -c 6000000 /dev/zero > "$(disk t2)/moving"
cp "$(disk t2)/moving" "$WORK/t2-before"

head -c 6000000 /dev/urandom > "$WORK/new"
set +e
run_master -m t1,t2 -s "$SRC" -t "$DST" --rate 20m -w 20 > "$WORK/out" 2>&1 &
pid=$!
# once t1 has opened its temp file the pages are flowing (6 MB at 20 Mbit/s:
# about 2.4 s); then rewrite the whole file in one write
await_temp t1 moving
sleep 0.5
dd if="$WORK/new" of="$SRC/moving" bs=6000000 count=1 conv=notrunc status=none
# and once vanishing is on its way (the window lets it in when moving's first
# pass is out: 0.67 s of line time is queued at most), it is deleted
await_temp t1 vanishing
rm "$SRC/vanishing"
wait $pid
rc=$?
set -e
cat "$WORK/out"
[ $rc = 2 ] || fail "exit $rc, want 2"
grep -Eq '^changed or deleted on the master during the send: .*\bmoving\b' "$WORK/out" || fail "change not reported"
grep -Eq '^changed or deleted on the master during the send: .*vanishing \(deleted\)' "$WORK/out" || fail "deletion not reported"
# the pages of the first pass were read half old, half new: the master does
# not hand the targets the hash that would let them commit them
grep -q 'moving: changed on the master while being sent, not committed' "$WORK/out" || fail "the mixed file was not refused"
[ ! -e "$(disk t1)/moving" ] || fail "t1 has a file at the final name"
cmp -s "$(disk t2)/moving" "$WORK/t2-before" || fail "t2's previous version was replaced"
# moving's hardlink twin: not linked to the version t2 had (content twin never had), and named
for i in 1 2; do
  [ ! -e "$(disk t$i)/twin" ] || fail "t$i: twin is linked to a moving that was not delivered"
  grep -q "^  t$i: twin (hardlink leader not delivered)" "$WORK/out" || fail "t$i: twin not named as not delivered"
done
[ "$(cat "$(disk t1)/steady")" = steady ] || fail "the unchanged file was not delivered"
ls -a "$(disk t1)" "$(disk t2)" | grep -q '\.mrsync\.' && fail "temp files left behind"

# A directory of the source swapped for a symlink to a root-only directory
# outside -s after the scan, while an earlier file is sent (a local user who
# can write in -s): nothing from outside reaches a target (the master opens
# every file beneath -s, no symlink followed, and checks it against the scan);
# the files under it are named, not delivered. The outside files have the
# same names and sizes.
SRC2="$WORK/src2"; SECRET="$WORK/secret"
mkdir -p "$SRC2/d" "$SECRET"
chmod 700 "$SECRET"
head -c 4000000 /dev/urandom > "$SRC2/a-first"
for i in 1 2 3; do echo "public $i" > "$SRC2/d/f$i"; echo "secret $i" > "$SECRET/f$i"; done
set +e
run_master -m t1 -s "$SRC2" -t "$DST" --rate 20m --window 1 -w 20 > "$WORK/out2" 2>&1 &
pid=$!
await_temp t1 a-first
mv "$SRC2/d" "$WORK/d-real"
ln -s "$SECRET" "$SRC2/d"
wait $pid
rc=$?
set -e
cat "$WORK/out2"
grep -rq secret "$(disk t1)" && fail "a file from outside -s reached t1 through the swapped directory"
[ $rc = 2 ] || fail "swapped directory: exit $rc, want 2"
grep -q 'd/f1: changed on the master since the scan (ELOOP: a directory on its path replaced by a symlink), not sent' "$WORK/out2" || fail "the files under the swapped directory are not named"
cmp -s "$SRC2/a-first" "$(disk t1)/a-first" || fail "the file sent before the swap is not exact"
echo PASS
