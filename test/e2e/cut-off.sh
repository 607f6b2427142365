#!/usr/bin/env bash
# A target cut off from the LAN for 10 s in the middle of a transfer, then
# back: with a -w budget longer than the cut it catches up and ends exact;
# with a shorter one it is dropped and named, and the others complete.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 3
for i in $(seq 1 10); do head -c 1000000 /dev/urandom > "$SRC/part$i"; done
cut_t2() {
  ip netns exec "${PFX}t2" nft add table inet cut
  ip netns exec "${PFX}t2" nft add chain inet cut in '{ type filter hook input priority 0; }'
  ip netns exec "${PFX}t2" nft add chain inet cut out '{ type filter hook output priority 0; }'
  ip netns exec "${PFX}t2" nft add rule inet cut in meta l4proto udp drop
  ip netns exec "${PFX}t2" nft add rule inet cut out meta l4proto udp drop
}
heal_t2() { ip netns exec "${PFX}t2" nft delete table inet cut; }
# cut t2 once pages are flowing to it (its first temp file exists), for 10 s
cut_when_flowing() {
  await_temp t2
  cut_t2; sleep 10; heal_t2
}

cut_when_flowing &
cpid=$!
start=$(date +%s)
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 20m -w 30 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "exit $rc with -w 30"; }
wait $cpid
took=$(( $(date +%s) - start ))
grep -v '^ *[0-9]* [0-9]*$' "$WORK/out"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
[ "$took" -ge 10 ] || fail "finished in $took s: the cut cannot have happened mid-transfer"
echo "caught up after the 10 s cut; run took $took s"

for i in 1 2 3; do find "$(disk t$i)" -mindepth 1 -delete; done
cut_when_flowing &
cpid=$!
run_rc "$WORK/out2" -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 20m -w 3
rc=$RC
wait $cpid
grep -v '^ *[0-9]* [0-9]*$' "$WORK/out2"
[ $rc = 3 ] || fail "exit $rc with -w 3, want 3"
grep -Eq '^t2 +DROPPED .*silent for 3 s' "$WORK/out2" || fail "t2 not dropped with -w 3"
# (named as one that answered, then stopped: not as a firewall that never let anything through)
grep -q 't2: silent for 3 s after it had answered (check: it answered, then stopped: .* or the link to it)' "$WORK/out2" \
  || fail "t2's drop not told apart from a firewall's"
for i in 1 3; do verify "$SRC" "$(disk t$i)"; done
echo PASS
