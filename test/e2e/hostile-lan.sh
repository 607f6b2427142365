#!/usr/bin/env bash
# A hostile host on the LAN floods the group and the master's feedback port
# during a push (garbage, another session's and wire version 2's datagrams,
# forged tags on this session's ids,
# truncated, oversized, replayed): every target still ends exact, and the
# report counts what was dropped.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 3
add_host x 198.18.0.99 fd00:198:18::99
make_tree "$SRC"
head -c 8000000 /dev/urandom > "$SRC/payload.bin"

ip netns exec "${PFX}x" timeout 60 node "$E2E_DIR/inject.js" 239.255.67.92 8888 198.18.0.1 8 > "$WORK/inject.out" 2>&1 &
ipid=$!
sleep 0.5
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 40m -w 20 --status-file "$WORK/status.json" > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "exit $rc"; }
wait $ipid || true
cat "$WORK/inject.out"
grep -v '^ *[0-9]* [0-9]*$' "$WORK/out"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
grep -q 'sniffed [1-9]' "$WORK/inject.out" || fail "the injector never saw a real packet (nothing forged on the session)"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const d = s.droppedPackets;
console.log("dropped:", JSON.stringify(d));
if (!(d.badAuth > 100)) throw new Error("forged tags not counted");
if (!(d.malformed > 100)) throw new Error("malformed not counted");
// another session (its own key) fails the tag; version 2 is malformed
const sent = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8").match(/inject: (\{.*\});/)[1]);
if (!(d.badAuth >= sent.otherSession)) throw new Error("datagrams of another session not all refused by their tag");
if (!(d.malformed >= sent.version2)) throw new Error("version 2 datagrams not all refused as malformed");
for (const t of s.targets) if (!t.droppedPackets || !(t.droppedPackets.badAuth > 0)) throw new Error(t.host + " reported no forged packets");
' "$WORK/status.json" "$WORK/inject.out" || fail "dropped packets not reported"
grep -q 'dropped packets (master and targets): [1-9]' "$WORK/out" || fail "report lacks the dropped-packets line"
echo PASS
