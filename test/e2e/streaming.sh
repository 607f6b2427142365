#!/usr/bin/env bash
# The scan streams: manifest segments go out while the tree is still being
# read, and files listed early are delivered before the scan has finished.
# Test knobs: 40 entries per segment, the scan paused 300 ms after each.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
for d in a b c d e f; do
  mkdir -p "$SRC/$d"
  for i in $(seq 1 30); do head -c $((RANDOM % 5000 + 1)) /dev/urandom > "$SRC/$d/f$i"; done
done
export MRSYNC_TEST_SEG_ENTRIES=40 MRSYNC_TEST_SCAN_PAUSE_MS=300
run_rc "$WORK/out" -m t1,t2 -s "$SRC" -t "$DST" -w 10 --log-file "$WORK/log"
[ "$RC" = 0 ] || { cat "$WORK/out"; fail "exit $RC"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
node -e '
const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
const scanned = l.find((e) => /^manifest: \d+ entries in (\d+) segments/.test(e.msg));
const segs = Number(/in (\d+) segments/.exec(scanned.msg)[1]);
const early = l.filter((e) => e.msg === "file delivered" && e.time < scanned.time);
const first = l.find((e) => e.msg === "file delivered");
console.log(`${segs} segments; scan done at +${scanned.time - l[0].time} ms; first file delivered at +${first.time - l[0].time} ms; ${early.length} deliveries before the scan ended`);
if (segs < 4) throw new Error("the manifest was not cut into segments");
if (early.length < 10) throw new Error("files were not delivered while the scan ran");
' "$WORK/log"
unset MRSYNC_TEST_SEG_ENTRIES MRSYNC_TEST_SCAN_PAUSE_MS

echo PASS
