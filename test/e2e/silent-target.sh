#!/usr/bin/env bash
# A target that goes silent (all its UDP cut after it has started) is dropped
# after the -w budget and named; the others complete; exit 3. With -q the run
# quits at that first drop. The report says which way the datagrams stop: a
# target the multicast never reached is told apart; targets that get the
# multicast but whose answers the master's firewall drops (its answer port
# closed) answer over their remote shells instead, and the push completes.
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

# the master's firewall drops its answer port (-P minus 1): the targets the multicast reaches send their answers
# over their remote shells instead (after a third of -w), the operator is told to open the port, and t2 (cut off
# still) is told apart as one the multicast does not reach
port_closed m 8887
for i in 1 3; do in_t "$i" sh -c "rm -rf '$DST'/* '$DST'/.[!.]*" 2>/dev/null || true; done
run_rc "$WORK/out3" -m t1,t2,t3 -s "$SRC" -t "$DST" -w 3
cat "$WORK/out3"
[ "$RC" = 3 ] || fail "the master's firewall: exit $RC, want 3 (t2 dropped)"
grep -q "warning: the targets' answers do not reach UDP port 8887 here (this machine's firewall?): they come over the remote shells instead" "$WORK/out3" \
  || fail "the master's firewall: no warning naming its port"
for i in 1 3; do grep -Eq "^t$i +OK" "$WORK/out3" || fail "the master's firewall: t$i not OK"; verify "$SRC" "$(disk t$i)"; done
grep -Eq "; [0-9]+ of the packets came over the channels of 2 targets whose UDP did not reach this machine" "$WORK/out3" || fail "the report does not count the answers over the channels"
ip netns exec "${PFX}m" nft list table inet closed | grep -Eq 'counter packets [1-9]' || fail "no answer was dropped by the master's firewall"
grep -q "1 DROPPED (SILENT): silent for 3 s: none of the multicast reached it" "$WORK/out3" || fail "t2 not told apart"
# and with the rate fixed (no probe train: the catchers say when the master's first datagram reaches them)
for i in 1 3; do in_t "$i" sh -c "rm -rf '$DST'/* '$DST'/.[!.]*" 2>/dev/null || true; done
run_rc "$WORK/out4" -m t1,t2,t3 -s "$SRC" -t "$DST" -w 3 --rate 300m
[ "$RC" = 3 ] || { cat "$WORK/out4"; fail "the master's firewall, --rate: exit $RC, want 3 (t2 dropped)"; }
for i in 1 3; do grep -Eq "^t$i +OK" "$WORK/out4" || { cat "$WORK/out4"; fail "the master's firewall, --rate: t$i not OK"; }; verify "$SRC" "$(disk t$i)"; done
echo PASS