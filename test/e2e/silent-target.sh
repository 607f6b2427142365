#!/usr/bin/env bash
# A target that goes silent (all its UDP cut after it has started) is dropped
# after the -w budget and named; the others complete; exit 3. With -q the run
# quits at that first drop. The report says which way the datagrams stop: a
# target the multicast never reached, and (the master's firewall dropping its
# answer port) targets that get the multicast but whose answers do not arrive.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 3
make_tree "$SRC"
# t2 hears nothing over UDP: its catcher starts (rsh works) but never gets a page
ip netns exec "${PFX}t2" nft add table inet cut
ip netns exec "${PFX}t2" nft add chain inet cut in '{ type filter hook input priority 0; }'
ip netns exec "${PFX}t2" nft add rule inet cut in meta l4proto udp drop

set +e
start=$(date +%s)
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 300m -w 3 > "$WORK/out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
set -e
cat "$WORK/out"
[ $rc = 3 ] || fail "exit $rc, want 3"
grep -Eq '^t2 +DROPPED .*silent for 3 s' "$WORK/out" || fail "t2 not reported as dropped"
grep -q "t2: silent for 3 s: none of the multicast reached it (check: the group's datagrams do not reach it: its firewall (UDP port -P)" "$WORK/out" \
  || fail "t2 not named as one the multicast does not reach"
for i in 1 3; do verify "$SRC" "$(disk t$i)"; done
[ "$took" -lt 30 ] || fail "took $took s to drop a silent target with -w 3"

run_rc "$WORK/out2" -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 300m -w 3 -q
rc=$RC
cat "$WORK/out2"
[ $rc = 3 ] || fail "-q: exit $rc, want 3"
grep -q 'quitting at the first dropped target' "$WORK/out2" || fail "-q did not say it quit"

# the master's firewall drops its answer port (-P minus 1): every target gets the multicast, none of their answers arrive
ip netns exec "${PFX}m" nft add table inet fw
ip netns exec "${PFX}m" nft add chain inet fw in '{ type filter hook input priority 0; }'
ip netns exec "${PFX}m" nft add rule inet fw in udp dport 8887 drop
run_rc "$WORK/out3" -m t1,t2,t3 -s "$SRC" -t "$DST" -w 3
cat "$WORK/out3"
[ "$RC" = 3 ] || fail "the master's firewall: exit $RC, want 3"
grep -q "2 DROPPED (SILENT): silent for 3 s: the multicast reaches it (its catcher said so), none of its answers reached UDP port 8887 here" "$WORK/out3" \
  || fail "t1 and t3 not named as targets whose answers do not arrive"
grep -q "check: open UDP port 8887 in this machine's firewall" "$WORK/out3" || fail "no hint to open the answer port here"
grep -q "1 DROPPED (SILENT): silent for 3 s: none of the multicast reached it" "$WORK/out3" || fail "t2 not told apart"
echo PASS
