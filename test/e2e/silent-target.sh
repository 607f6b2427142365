#!/usr/bin/env bash
# A target that goes silent (all its UDP cut after it has started) is dropped
# after the -w budget and named; the others complete; exit 3. With -q the run
# quits at that first drop.
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
for i in 1 3; do verify "$SRC" "$(disk t$i)"; done
[ "$took" -lt 30 ] || fail "took $took s to drop a silent target with -w 3"

run_rc "$WORK/out2" -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 300m -w 3 -q
rc=$RC
cat "$WORK/out2"
[ $rc = 3 ] || fail "-q: exit $rc, want 3"
grep -q 'quitting at the first dropped target' "$WORK/out2" || fail "-q did not say it quit"
echo PASS
