#!/usr/bin/env bash
# rtt on the simulated LAN: one host in the original format, then three hosts
# with 0%, 1% and 5% loss probed at once; --json parses; bad input is refused.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT
RTT="$REPO/bin/rtt"

lan_up 3
mkdir -p "$WORK/dst"
for i in 1 2 3; do host_mounts "t$i" "$WORK/dst" >/dev/null; done
rtt() { ip netns exec "${PFX}m" timeout 120 "$RTT" -r "$NSRSH" "$@"; }

rtt -m t1 -n 1000 > "$WORK/one" 2>&1 || { rc=$?; cat "$WORK/one"; fail "single host exit $rc"; }
cat "$WORK/one"
head -4 "$WORK/one" | diff - <(printf 'Missing pages =          0 ( 0.00%%) out of total pages = 1000\nrtt histogram\nmsec counts\n---- --------\n') || fail "original header differs"
total=$(awk '/^---- --------$/{on=1; next} on && /^ *[0-9]+ [0-9]+$/ {s+=$2} /^$/{on=0} END{print s}' "$WORK/one")
[ "$total" = 1000 ] || fail "1-ms histogram counts $total, want 1000"
grep -Eq '^t1: min [0-9.]+ us  p50 [0-9.]+ us  p90 [0-9.]+ us  p99 [0-9.]+ us  max [0-9.]+ us$' "$WORK/one" || fail "no percentile line"

loss t2 10 7900
loss t3 50 7900
rtt -m t1,t2,t3 -n 2000 -i 0.5 --json > "$WORK/three.json" 2> "$WORK/three.err" || { rc=$?; cat "$WORK/three.err"; fail "three hosts exit $rc"; }
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const by = Object.fromEntries(r.hosts.map((h) => [h.host, h]));
for (const h of r.hosts) {
  const sum = h.msHistogram.reduce((a, b) => a + b.count, 0);
  const sumUs = h.usHistogram.reduce((a, b) => a + b.count, 0);
  if (sum !== h.sent - h.missing || sumUs !== sum) throw new Error(`${h.host}: counts ${sum}/${sumUs} != ${h.sent} - ${h.missing}`);
  console.log(`${h.host}: missing ${h.missing} of ${h.sent}, p50 ${h.p50Us.toFixed(1)} us`);
}
if (by.t1.missing > 10) throw new Error("t1 lost " + by.t1.missing + " with no loss injected");
if (by.t2.missing < 5 || by.t2.missing > 60) throw new Error("t2 (1%) lost " + by.t2.missing);
if (by.t3.missing < 60 || by.t3.missing > 170) throw new Error("t3 (5%) lost " + by.t3.missing);
' "$WORK/three.json" || fail "json figures wrong"
printf '# the rack\nt1\nt2\n\nt3  # lossy\n' > "$WORK/hosts.list"
rtt -m "@$WORK/hosts.list" -n 300 > "$WORK/three.txt" 2>&1 || fail "text three hosts (@file) exit $?"
grep -Eq '^host +sent +recv +loss' "$WORK/three.txt" || fail "no per-host table"
[ "$(grep -c '^== t[123] ==$' "$WORK/three.txt")" = 3 ] || fail "not one histogram per host"

# bad input and unanswering hosts: one line, non-zero
expect() {
  local want=$1 pat=$2; shift 2
  set +e; out=$(rtt "$@" 2>&1); rc=$?; set -e
  [ "$rc" = "$want" ] || { echo "$out" >&2; fail "exit $rc, want $want for: $*"; }
  echo "$out" | grep -Eq -- "$pat" || { echo "$out" >&2; fail "no /$pat/ for: $*"; }
  echo "ok ($rc): $(echo "$out" | grep -E -- "$pat" | head -1)"
}
expect 1 '-n must be a whole number' -m t1 -n 0
expect 1 '-n must be a whole number' -m t1 -n -5
expect 1 '-s must be a datagram size from 44 to 65507' -m t1 -s 70000
expect 3 'ghost.*Could not resolve hostname' -m ghost -n 10
ip netns exec "${PFX}t1" nft add table inet cut
ip netns exec "${PFX}t1" nft add chain inet cut in '{ type filter hook input priority 0; }'
ip netns exec "${PFX}t1" nft add rule inet cut in udp dport 7900 drop
expect 3 't1: rttcatcher never answered .*: none of the probes reached it: its firewall \(UDP port 7900\)' -m t1 -n 100 -t 100
# the master's own firewall drops the answers (its port 7899): the probes reach t1 and it says so
ip netns exec "${PFX}t1" nft delete table inet cut
port_closed m 7899
expect 3 "t1: rttcatcher never answered .*: the probes reach it \(it said so\), none of its answers reached UDP port 7899 here: this machine's firewall\?" -m t1 -n 100 -t 100
echo PASS
