#!/usr/bin/env bash
# A switch that snoops IGMP/MLD, where one target never hears a querier (no
# querier on its VLAN, or its queries filtered): the switch forgets that
# port's membership after its membership interval and stops forwarding the
# group to it mid-push. The catchers leave and join their group again now
# and then (MRSYNC_TEST_REJOIN_MS here; a minute by default), which makes
# the kernel report the membership anew: the push reaches every target.
# Without the refresh the same push loses that target (shown first).
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
head -c 30000000 /dev/urandom > "$SRC/big"
# the switch snoops and is the querier (every 1 s); a membership not reported for 2 s is forgotten
ip -n "${PFX}sw" link set br0 type bridge mcast_snooping 1 mcast_querier 1 mcast_membership_interval 200 \
  mcast_query_interval 100 mcast_query_response_interval 50 mcast_startup_query_count 1
# t2 never hears the queries, so it never answers them
ip netns exec "${PFX}t2" nft add table inet q
ip netns exec "${PFX}t2" nft add chain inet q in '{ type filter hook input priority 0; }'
ip netns exec "${PFX}t2" nft add rule inet q in meta l4proto igmp drop
ip netns exec "${PFX}t2" nft add rule inet q in icmpv6 type mld-listener-query drop
push() { ip netns exec "${PFX}m" env MRSYNC_TEST_REJOIN_MS="$1" timeout 120 "$MRSYNC" -r "$NSRSH" -m t1,t2 -s "$SRC" -t "$DST" --rate 20m -w 3 "${@:2}"; }
clean() { for i in 1 2; do in_t "$i" rm -rf "$DST/big"; done; }

# no refresh within the push (10 minutes): t2 stops receiving once the switch forgets it
set +e
push 600000 > "$WORK/stale" 2>&1
rc=$?
set -e
[ "$rc" = 3 ] && grep -Eq '^t2 +DROPPED .*silent for 3 s' "$WORK/stale" && grep -Eq '^t1 +OK' "$WORK/stale" \
  || { cat "$WORK/stale"; fail "without the refresh the switch did not lose t2 (exit $rc): the scenario shows nothing"; }
echo "ok: no refresh: $(grep -E '^t2 ' "$WORK/stale" | tail -1)"

clean
push 500 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "IPv4 with the refresh: exit $rc"; }
grep -q '2 of 2 targets OK' "$WORK/out" || { cat "$WORK/out"; fail "IPv4 with the refresh: not all OK"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo "ok: IPv4, the membership refreshed every 0.5 s: $(grep '^total:' "$WORK/out")"

clean
push 500 -A ff15::4d:5253 -I eth0 > "$WORK/out6" 2>&1 || { rc=$?; cat "$WORK/out6"; fail "IPv6 with the refresh: exit $rc"; }
grep -q '2 of 2 targets OK' "$WORK/out6" || { cat "$WORK/out6"; fail "IPv6 with the refresh: not all OK"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo "ok: IPv6, the membership refreshed every 0.5 s: $(grep '^total:' "$WORK/out6")"
echo PASS
