#!/usr/bin/env bash
# A slow target among fast ones, with a tree of mixed sizes: one port shaped
# to 30 Mbit/s, five to 100, 1% random loss at each; four pushes of a fresh
# tree each (small files next to big ones, empty files, symlinks,
# hardlinks) with --delete. The slow target is set aside and catches up
# after the others; each push ends with every copy exact and nothing
# reported undelivered. A small file that was coming alone when its target
# was set aside goes again in a pack in the catch-up: the pack must write it
# (before f8dad48 it was skipped as had, about one push in three here).
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 6
ip netns exec "${PFX}sw" tc qdisc add dev "${PFX}t1" root tbf rate 30mbit burst 64kb latency 50ms
for i in 2 3 4 5 6; do ip netns exec "${PFX}sw" tc qdisc add dev "${PFX}t$i" root tbf rate 100mbit burst 64kb latency 50ms; done
for i in 1 2 3 4 5 6; do loss "t$i" 10; done
RANDOM=7
aside=0
for p in 1 2 3 4; do
  mixed_tree "$SRC" 200
  for i in 1 2 3 4 5 6; do find "$(disk "t$i")" -mindepth 1 -delete; done
  run_rc "$WORK/out" -m t1,t2,t3,t4,t5,t6 -s "$SRC" -t "$DST" -w 30 --delete
  grep -E '^(t[1-6] |files not delivered|total:)' "$WORK/out"
  [ "$RC" = 0 ] || { cat "$WORK/out"; fail "push $p: exit $RC"; }
  grep -q '^files not delivered: none' "$WORK/out" || fail "push $p: files not delivered"
  for i in 1 2 3 4 5 6; do verify "$SRC" "$(disk "t$i")"; done
  if grep -Eq '^t1 +OK .*slow: set aside, caught up after the others' "$WORK/out"; then aside=$((aside + 1)); fi
done
[ "$aside" -ge 2 ] || fail "the slow target was set aside in $aside of 4 pushes"
echo PASS
