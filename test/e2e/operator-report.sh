#!/usr/bin/env bash
# The operator's view of a run with one dropped target and one failed file:
# the report and --status-file match their snapshots (times, paths, the
# session id and which pushed file was slowest normalized), --log-file has one JSON line per event with the
# session id and host, and progress is plain lines when stdout is a file.
# UPDATE_SNAPSHOTS=1 rewrites the snapshots.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT
SNAP="$E2E_DIR/snapshots"

lan_up 3
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC/docs" "$DST"
for i in $(seq 1 20); do head -c $((i * 3000)) /dev/zero | tr '\0' 'x' > "$SRC/docs/page$i.txt"; done
head -c 3000000 /dev/zero | tr '\0' 'y' > "$SRC/big.bin"
echo config > "$SRC/app.conf"
for i in 1 2 3; do host_mounts "t$i" "$DST" >/dev/null; done
# t2: a non-empty directory stands where the source has app.conf -> that entry fails
mkdir -p "$(disk t2)/app.conf/keep"; echo k > "$(disk t2)/app.conf/keep/k"
# t3: cut off from UDP after its catcher starts -> dropped after -w 3
ip netns exec "${PFX}t3" nft add table inet cut
ip netns exec "${PFX}t3" nft add chain inet cut in '{ type filter hook input priority 0; }'
ip netns exec "${PFX}t3" nft add rule inet cut in meta l4proto udp drop

set +e
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 20m -w 3 --progress-interval 1 \
  --status-file "$WORK/status.json" --log-file "$WORK/log.jsonl" > "$WORK/out" 2> "$WORK/err"
rc=$?
set -e
cat "$WORK/out" "$WORK/err"
[ $rc = 3 ] || fail "exit $rc, want 3"

# progress: plain lines, no carriage returns or escapes, when stdout is a file
grep -q '^mrsync: sending: .* of .*, .* Mbit/s, ETA .*, files [0-9]*/22, targets .* complete / .* behind / .* dropped$' "$WORK/out" || fail "no plain progress line"
if grep -q $'\r\|\x1b' "$WORK/out"; then fail "terminal control characters in non-terminal output"; fi

normalize() {
  sed -E -e "s#$WORK#WORK#g" \
    -e 's/^cpu: master [0-9]+\.[0-9]{2} s( \([0-9.]+ s\/GB\))?, targets median [0-9]+\.[0-9]{2} s( \([0-9.]+ s\/GB\))?, max [0-9]+\.[0-9]{2} s; peak RSS master [0-9]+ MiB, targets max [0-9]+ MiB$/cpu: C (per GB), targets C (per GB); peak RSS M/' -e 's/[0-9]+\.[0-9]+ s,/T s,/g' -e '/^rate: fixed at /!s/[0-9.]+ Mbit\/s/R Mbit\/s/g' \
    -e 's/total time = [0-9.]+ min/total time = T min/' -e 's/(total time = T min, )[0-9.]+ min\/GB/\1T min\/GB/' \
    -e 's/ [0-9]+\.[0-9]{2}s ([^ ]+)/ Ts \1/g' \
    -e 's# Ts (docs/page([1-9]|1[0-9]|20)\.txt|big\.bin) *# Ts FILE #' \
    -e 's/^pacing: line time unused [0-9]+\.[0-9]{2} s with pages queued (.*), [0-9]+\.[0-9]{2} s with none queued$/pacing: line time unused T s with pages queued \1, T s with none queued/' \
    -e 's/^feedback: [0-9]+ packets from ([0-9]+) targets \([0-9.]+ per target per file\); control from the master: [0-9]+ packets \([0-9.]+ per file\)/feedback: N packets from \1 targets (F per target per file); control from the master: C packets (P per file)/' \
    | awk '/^rtt histogram/{skip=1} !skip' | grep -v '^mrsync: ' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}
normalize < "$WORK/out" > "$WORK/report.txt"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
if (!/^[0-9a-f]{8}$/.test(s.session)) throw new Error("session id");
if (isNaN(Date.parse(s.started)) || !(s.seconds > 0)) throw new Error("times");
s.session = "SESSION"; s.started = "STARTED"; s.seconds = 0;
s.master = { cpuSeconds: s.master.cpuSeconds > 0, maxRssKiB: s.master.maxRssKiB > 10000 };
s.source = s.source.replace(process.argv[2], "WORK"); s.target = s.target.replace(process.argv[2], "WORK");
for (const t of s.targets) {
  if (t.slowestFile) {
    // which file was slowest is a matter of timing: one of those pushed
    if (!/^(docs\/page([1-9]|1[0-9]|20)\.txt|big\.bin)$/.test(t.slowestFile.path)) throw new Error("slowestFile " + t.slowestFile.path);
    t.slowestFile.path = "FILE"; t.slowestFile.seconds = 0;
  }
  if (!(t.feedbackPackets >= 0)) throw new Error("feedbackPackets");
  t.feedbackPackets = t.state === "OK" || t.state === "FAILED" ? t.feedbackPackets > 0 : t.feedbackPackets;
  // measured: present (a number > 0) for targets that finished, null for the dropped one
  t.cpuSeconds = t.cpuSeconds === null ? null : t.cpuSeconds > 0;
  t.maxRssKiB = t.maxRssKiB === null ? null : t.maxRssKiB > 10000;
}
process.stdout.write(JSON.stringify(s, null, 2) + "\n");
' "$WORK/status.json" "$WORK" > "$WORK/status.norm.json"
if [ "${UPDATE_SNAPSHOTS:-0}" = 1 ]; then
  cp "$WORK/report.txt" "$SNAP/operator-report.txt"; cp "$WORK/status.norm.json" "$SNAP/operator-status.json"
fi
diff -u "$SNAP/operator-report.txt" "$WORK/report.txt" || fail "report differs from its snapshot"
diff -u "$SNAP/operator-status.json" "$WORK/status.norm.json" || fail "status file differs from its snapshot"

# log file: JSON lines, each with the session id; the drop and the failure name their host
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l));
const sid = lines[0].session;
if (!/^[0-9a-f]{8}$/.test(sid) || lines.some((l) => l.session !== sid)) throw new Error("session id missing on some line");
if (!lines.some((l) => l.host === "t3" && l.level === 50 && /silent/.test(l.msg))) throw new Error("no drop event for t3");
if (!lines.some((l) => l.host === "t1" && l.msg === "file delivered")) throw new Error("no delivery event for t1");
console.log(`log: ${lines.length} JSON lines, session ${sid}`);
' "$WORK/log.jsonl" || fail "log file"
echo PASS
