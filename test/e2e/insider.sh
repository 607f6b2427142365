#!/usr/bin/env bash
# One target turns on the others (it, or whoever owns it, holds the session
# key every target holds): it poses as the master from its own address before
# the push starts, and then forges, again and again, the pages of a file with
# content of its own, an EOF carrying that content's hash, a Sums under a key
# of its own and an Abort of another file (test/e2e/rogue-catcher.js). The
# others still send their feedback to the master (its address comes in the
# session header), commit nothing the master did not send (the hashes they
# check files against are the master's, signed, and segments' come over
# their own channels), and drop nothing on the rogue's word. What the rogue
# can still do is spoil files with forged pages: they fail their hash check,
# named in the report, never committed.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 3
head -c 2000000 /dev/urandom > "$SRC/a-big"     # object 2: gives the rogue time
head -c 200000 /dev/urandom > "$SRC/b-victim"   # object 3: the rogue's pages and hash
head -c 200000 /dev/urandom > "$SRC/c-other"    # object 4: the rogue's Abort
head -c 200000 /dev/urandom > "$WORK/forged"
set +e
ROGUE_HOST=t1 ROGUE_OBJECT=3 ROGUE_ABORT=4 ROGUE_FILE="$WORK/forged" \
  run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --remote-path "$E2E_DIR/rogue-catcher.js" --rate 8m -w 10 \
  --status-file "$WORK/status.json" > "$WORK/out" 2>&1
rc=$?
set -e
cat "$WORK/out"
for i in 2 3; do
  d=$(disk t$i)
  cmp -s "$WORK/forged" "$d/b-victim" && fail "t$i committed the rogue's content"
  [ ! -e "$d/b-victim" ] || cmp -s "$SRC/b-victim" "$d/b-victim" || fail "t$i holds something else than the master's b-victim"
  cmp -s "$SRC/a-big" "$d/a-big" || fail "t$i: a-big not exact"
  cmp -s "$SRC/c-other" "$d/c-other" || fail "t$i dropped c-other on the rogue's unsigned Abort"
  ls -a "$d" | grep -q '\.mrsync\.' && fail "t$i: temp files left"
done
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
for (const t of s.targets) {
  if (t.host === "t1") continue;
  if (t.state === "DROPPED" || t.state === "UNREACHABLE") throw new Error(t.host + " " + t.state + ": " + t.error);
  for (const f of t.failedFiles) if (f.path !== "b-victim") throw new Error(t.host + ": " + f.path + " failed: " + f.error);
}
' "$WORK/status.json" || fail "an honest target was dropped or lost a file the rogue did not touch"
[ $rc = 0 ] || [ $rc = 2 ] || fail "exit $rc"

# The rate's probe train (wire/train.ts), found from feedback this time: the
# rogue multicasts trains of its own as the master, back to back, again and
# again, and says on its channel what no catcher would (a rate of 1e300, a
# negative one, words for numbers). The push still ends, the honest targets
# exact, and the rate stays within --max-rate. (Its trains come first and
# end the others' measuring: the probe is lost, the start stays 10 Mbit/s.)
for i in 1 2 3; do rm -rf "$(disk t$i)"/* 2>/dev/null || true; done
set +e
ROGUE_HOST=t1 ROGUE_OBJECT=3 ROGUE_ABORT=4 ROGUE_FILE="$WORK/forged" ROGUE_TRAIN=1 \
  run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --remote-path "$E2E_DIR/rogue-catcher.js" --max-rate 40m -w 10 \
  --status-file "$WORK/status2.json" > "$WORK/out2" 2>&1
rc=$?
set -e
cat "$WORK/out2"
[ $rc = 0 ] || [ $rc = 2 ] || fail "exit $rc with the rogue's trains"
for i in 2 3; do
  d=$(disk t$i)
  cmp -s "$SRC/a-big" "$d/a-big" || fail "t$i: a-big not exact with the rogue's trains"
  cmp -s "$SRC/c-other" "$d/c-other" || fail "t$i: c-other not exact with the rogue's trains"
  [ ! -e "$d/b-victim" ] || cmp -s "$SRC/b-victim" "$d/b-victim" || fail "t$i holds something else than the master's b-victim"
done
line=$(grep '^rate: found from feedback' "$WORK/out2") || fail "no rate line"
peak=$(echo "$line" | sed -n 's/.*peak \([0-9.]*\),.*/\1/p')
[ -n "$peak" ] && [ "$(echo "$peak <= 40" | bc)" = 1 ] || fail "the rate went past --max-rate: $line"
echo PASS
