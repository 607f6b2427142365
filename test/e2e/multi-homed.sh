#!/usr/bin/env bash
# A target with two interfaces (a data NIC facing the master, a management
# NIC where its multicast route goes, as a default route would take it): its
# catcher joins the group on the interface it reaches the master through, not
# where the routing table sends the group, and receives the push. IPv4 and
# an IPv6 group.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
make_tree "$SRC"
empty() { for i in 1 2; do in_t "$i" sh -c "rm -rf '$DST'/* '$DST'/.[!.]*" 2>/dev/null || true; done; }
# t2's management NIC (a veth to nowhere in its own namespace) takes its routes to every group
ip -n "${PFX}t2" link add mgmt0 type veth peer name mgmt1
ip -n "${PFX}t2" link set mgmt1 up
ip -n "${PFX}t2" link set mgmt0 up
ip -n "${PFX}t2" addr add 198.19.9.2/24 dev mgmt0
ip -n "${PFX}t2" -6 addr add fd00:199:9::2/64 dev mgmt0 nodad
ip -n "${PFX}t2" route replace 224.0.0.0/4 dev mgmt0
ip -n "${PFX}t2" -6 route add ff15::/16 dev mgmt0 table local metric 1
ip -n "${PFX}t2" route get 239.255.67.92 | grep -q 'dev mgmt0' || fail "the group's route on t2 is not the management NIC's"

run_master -m t1,t2 -s "$SRC" -t "$DST" --rate 300m -w 10 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "IPv4: exit $rc"; }
grep -q '2 of 2 targets OK' "$WORK/out" || { cat "$WORK/out"; fail "IPv4: not all OK"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo "ok: IPv4, t2 joined where the master is"

empty
run_master -m t1,t2 -s "$SRC" -t "$DST" -A ff15::4d:5253 -I eth0 --rate 300m -w 10 > "$WORK/out6" 2>&1 || { rc=$?; cat "$WORK/out6"; fail "IPv6: exit $rc"; }
grep -q '2 of 2 targets OK' "$WORK/out6" || { cat "$WORK/out6"; fail "IPv6: not all OK"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo "ok: IPv6, t2 joined where the master is"

# rtt: its catchers join where they reach the master too
ip netns exec "${PFX}m" timeout 120 "$REPO/bin/rtt" -r "$NSRSH" -m t1,t2 -n 200 --json > "$WORK/rtt.json" 2> "$WORK/rtt.err" || { rc=$?; cat "$WORK/rtt.err"; fail "rtt: exit $rc"; }
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const t2 = r.hosts.find((h) => h.host === "t2");
if (!t2 || t2.missing !== 0 || t2.sent !== 200) throw new Error(`t2: ${JSON.stringify(t2 && { sent: t2.sent, missing: t2.missing })} (failed: ${JSON.stringify(r.failed)})`);
' "$WORK/rtt.json" || { cat "$WORK/rtt.json" "$WORK/rtt.err"; fail "rtt: t2 did not answer every probe"; }
echo "ok: rtt, t2 answered every probe"

# the master's own host in its target list (one list for the whole fleet): its catcher gets the group's
# datagrams only if the master loops them back, which it turns on when that catcher says it runs here
# (before: dropped as silent after -w, blamed on the firewall). IPv4, IPv6 and rtt.
host_mounts m "$DST" > /dev/null
empty
run_master -m t1,m -s "$SRC" -t "$DST" -w 10 > "$WORK/self" 2>&1 || { rc=$?; cat "$WORK/self"; fail "the master among its targets: exit $rc"; }
verify "$SRC" "$(disk m)"; verify "$SRC" "$(disk t1)"
rm -rf "$(disk m)"/*; empty
run_master -m m,t1 -s "$SRC" -t "$DST" -A ff15::4d:5253 -I eth0 -w 10 > "$WORK/self6" 2>&1 || { rc=$?; cat "$WORK/self6"; fail "the master among its targets, IPv6: exit $rc"; }
verify "$SRC" "$(disk m)"; verify "$SRC" "$(disk t1)"
ip netns exec "${PFX}m" timeout 60 "$REPO/bin/rtt" -r "$NSRSH" -m m,t1 -n 100 -w 10 --json > "$WORK/rtt-self.json" 2> "$WORK/rtt-self.err" || { rc=$?; cat "$WORK/rtt-self.err"; fail "rtt to the master's own host: exit $rc"; }
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const m = r.hosts.find((h) => h.host === "m");
if (!m || m.missing !== 0 || m.sent !== 100) throw new Error(`m: ${JSON.stringify(m && { sent: m.sent, missing: m.missing })} (failed: ${JSON.stringify(r.failed)})`);
' "$WORK/rtt-self.json" || { cat "$WORK/rtt-self.json" "$WORK/rtt-self.err"; fail "rtt: the master's own host did not answer every probe"; }
echo "ok: the master's own host among its targets: exact (IPv4, IPv6), and rtt's probes answered"

# two names in -m for one host (an alias): two catchers would race over one tree (one's --delete takes the
# other's temp files, its backups overwrite the other's); the second to start is refused, naming the first,
# and the push goes there once: exact, its backup the old version
cp "$MRSYNC_TEST_HOSTS/t1.pid" "$MRSYNC_TEST_HOSTS/t1-alias.pid"
empty
echo new > "$SRC/versioned"
echo old > "$(disk t1)/versioned"; touch -d '2001-01-01' "$(disk t1)/versioned"
run_rc "$WORK/alias" -m t1,t1-alias,t2 -s "$SRC" -t "$DST" -b -w 10
[ "$RC" = 2 ] || { cat "$WORK/alias"; fail "an alias: exit $RC, want 2"; }
grep -Eq '^t1(-alias)? +FAILED +.*the same machine and destination directory as t1(-alias)? \(two names for one host in -m\?\): pushed there once' "$WORK/alias" \
  || { cat "$WORK/alias"; fail "an alias: not refused as the same machine and directory"; }
[ "$(grep -Ec '^t1(-alias)? +OK' "$WORK/alias")" = 1 ] || { cat "$WORK/alias"; fail "an alias: not one of the two names OK"; }
[ "$(cat "$(disk t1)"/versioned_mcast_bak*)" = old ] || fail "an alias: the backup is not the old version"
rm -f "$(disk t1)"/versioned_mcast_bak*; touch -r "$SRC" "$(disk t1)" # (the rm changed the directory's time)
verify "$SRC" "$(disk t1)"; verify "$SRC" "$(disk t2)"
rm -f "$SRC/versioned"
echo "ok: an alias for t1 refused, naming it; one push there, exact, its backup kept"

# a target on another subnet, behind a router (its route to the master has a gateway): the master's multicast
# (TTL 1) stops at the router, and the report says so, naming the router, instead of blaming its firewall
ip netns add "${PFX}r"; NAMESPACES+=("${PFX}r")
ip netns add "${PFX}far"; NAMESPACES+=("${PFX}far")
ip link add "${PFX}r" type veth peer name eth0 netns "${PFX}r"
ip link set "${PFX}r" netns "${PFX}sw"
ip -n "${PFX}sw" link set "${PFX}r" master br0 up
ip -n "${PFX}r" link set eth0 up
ip -n "${PFX}r" addr add 198.18.0.50/15 dev eth0
ip -n "${PFX}r" link add far0 type veth peer name eth0 netns "${PFX}far"
ip -n "${PFX}r" link set far0 up
ip -n "${PFX}r" addr add 198.19.200.1/24 dev far0
ip netns exec "${PFX}r" sysctl -qw net.ipv4.ip_forward=1
ip -n "${PFX}far" link set lo up
ip -n "${PFX}far" link set eth0 up
ip -n "${PFX}far" addr add 198.19.200.2/24 dev eth0
ip -n "${PFX}far" route add default via 198.19.200.1
ip -n "${PFX}m" route add 198.19.200.0/24 via 198.18.0.50
host_mounts far "$DST" > /dev/null
empty
run_rc "$WORK/far" -m t1,far -s "$SRC" -t "$DST" -w 3
[ "$RC" = 3 ] || { cat "$WORK/far"; fail "a routed target: exit $RC, want 3"; }
grep -Eq "^far +DROPPED .* silent for 3 s: none of the multicast reached it \(it reaches this machine through a router, 198\.19\.200\.1: a TTL of 1 \(-T\) stops the multicast there\)" "$WORK/far" \
  || { cat "$WORK/far"; fail "a routed target: not named as behind its router"; }
grep -q "check: multicast crosses routers only with -T above their number and multicast routing" "$WORK/far" || { cat "$WORK/far"; fail "a routed target: no hint"; }
verify "$SRC" "$(disk t1)"
echo "ok: a target behind a router named so, with the router"

# a target whose interface has a smaller MTU than the master's (the master has jumbo frames, the targets not):
# its catcher refuses the session at once, saying which --page-size fits, instead of dropping every frame
# until -w; with that page size every target gets the push
ip -n "${PFX}t2" link set eth0 mtu 1400
empty
set +e
t0=$(date +%s)
run_master -m t1,t2 -s "$SRC" -t "$DST" --rate 300m -w 20 > "$WORK/mtu" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || { cat "$WORK/mtu"; fail "MTU: exit $rc, want 2 (t2 refused the session)"; }
[ $(( $(date +%s) - t0 )) -lt 15 ] || { cat "$WORK/mtu"; fail "MTU: t2 refused only after $(( $(date +%s) - t0 )) s"; }
grep -Eq "^t2 +FAILED .*the master's datagrams \(1500 bytes with their IP and UDP headers\) do not fit this target's MTU \(1400 on eth0\): --page-size 1349 or less fits" "$WORK/mtu" \
  || { cat "$WORK/mtu"; fail "MTU: t2 not refused with the page size that fits"; }
grep -Eq '^t1 +OK' "$WORK/mtu" || { cat "$WORK/mtu"; fail "MTU: t1 not OK"; }
run_master -m t1,t2 -s "$SRC" -t "$DST" --rate 300m -w 20 --page-size 1349 > "$WORK/mtu2" 2>&1 || { rc=$?; cat "$WORK/mtu2"; fail "MTU: --page-size 1349: exit $rc"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo "ok: a smaller MTU at t2 refused at once with the page size that fits; with it, both exact"
set +e
ip netns exec "${PFX}m" timeout 120 "$REPO/bin/rtt" -r "$NSRSH" -m t1,t2 -n 50 > "$WORK/rtt-mtu" 2>&1
rc=$?
set -e
grep -q "t2: the master's datagrams (1500 bytes with their IP and UDP headers) do not fit this target's MTU (1400 on eth0): rtt -s 1372 or less fits" "$WORK/rtt-mtu" \
  || { cat "$WORK/rtt-mtu"; fail "MTU: rtt (exit $rc) does not name t2's MTU and the size that fits"; }
echo "ok: rtt names t2's MTU and the probe size that fits (exit $rc)"
echo PASS
