#!/usr/bin/env bash
# One target much slower than the rest (its switch port shaped to 8 Mbit/s,
# the others to 100): it does not hold the others back. Found slow from its
# own reports, it is set aside; the others finish at their pace; it catches
# up alone after them; the report says which. All copies exact, the small
# files among them too (sent in packs: the set-aside target's share of a
# pack is deferred file by file, and its catch-up packs them again).
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 4
for i in 1 2 3; do ip netns exec "${PFX}sw" tc qdisc add dev "${PFX}t$i" root tbf rate 100mbit burst 64kb latency 50ms; done
ip netns exec "${PFX}sw" tc qdisc add dev "${PFX}t4" root tbf rate 8mbit burst 32kb latency 50ms
for i in $(seq -w 1 24); do head -c 400000 /dev/urandom > "$SRC/f$i"; done
mkdir "$SRC/small"
for i in $(seq 1 400); do head -c $((1000 + i * 13)) /dev/urandom > "$SRC/small/s$i"; done
run_rc "$WORK/out" -m t1,t2,t3,t4 -s "$SRC" -t "$DST" -w 20 --log-file "$WORK/log"
cat "$WORK/out"
[ "$RC" = 0 ] || fail "exit $RC"
for i in 1 2 3 4; do verify "$SRC" "$(disk t$i)"; done
grep -Eq '^t4 +OK .*slow: set aside, caught up after the others' "$WORK/out" || fail "t4 not reported as slow"
if grep -Eq '^t[123] +OK .*slow' "$WORK/out"; then fail "a fast target was called slow"; fi
grep -Eq '^total: .*; 400 small ones in [0-9]+ packs' "$WORK/out" || fail "the small files did not go in packs"
# each file counted once, though the set-aside target's went again in its catch-up
grep -Eq '^total: 426 entries, 424 files sent \(10\.5 MiB;' "$WORK/out" || fail "files sent not counted once"
node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
const t0 = l[0].time;
const last = (h) => Math.max(...l.filter((e) => e.msg === "file delivered" && e.host === h).map((e) => e.time)) - t0;
const fast = Math.max(last("t1"), last("t2"), last("t3"));
const slow = last("t4");
console.log(`t1-t3 done at +${fast} ms, t4 (8 Mbit/s) done at +${slow} ms`);
// 9.6 MB and 1.4 MB of small files: about 1 s at 100 Mbit/s (1.4-1.8 s here); about 11 s at 8 Mbit/s
// (started from the probe train reading of the slow port, 1 push in 8 held the others to its pace: 7-9 s)
if (fast > 4000) throw new Error("the fast targets were held back");
if (slow < fast + 3000) throw new Error("t4 did not finish after the others");
' "$WORK/log"
echo PASS
