#!/usr/bin/env bash
# Hundreds of targets: N (default 200) real catcher processes, each in its
# own network namespace with its own tmpfs, every switch port and the
# master's uplink shaped to LINK Mbit/s (default 20); a tree of FILES files
# of 100 kB. Reports wall time, the master's feedback load (packets from the
# targets, per target per file) and CPU, the catchers' peak RSS (max and
# median, /usr/bin/time -v around each), and verifies every copy.
#
#   bash bench/many.sh [N] [LINK] [FILES]        (default 200 20 200)
#   SMALL=1 bash bench/many.sh 40 200 5000        (files of 0.5-4 KB instead: a tree of small files)
#   MRSYNC=/other/clone/bin/mrsync bash bench/many.sh ...   (another build, its multicatcher on the targets)
set -euo pipefail
N=${1:-200}; LINK=${2:-20}; FILES=${3:-200}
source "$(dirname "$0")/../test/e2e/lib.sh"
trap lan_down EXIT
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time" >&2; exit 1; }
lan_up "$N"
DST="$WORK/dst"; SRC="$WORK/src"; mkdir -p "$DST" "$SRC" "$WORK/times"
shape "${PFX}m" eth0 "$LINK"
for i in $(seq 1 "$N"); do bench_target "t$i" "$DST" size=256m "$LINK"; done
if [ "${SMALL:-0}" = 1 ]; then
  awk -v n="$FILES" 'BEGIN { srand(7); for (i = 1; i <= n; i++) printf "%d %d\n", i, 512 + int(rand() * 3584) }' |
    while read -r i sz; do d="$SRC/d$((i % 50))"; mkdir -p "$d"; head -c "$sz" /dev/urandom > "$d/f$i"; done
else
  for i in $(seq 1 "$FILES"); do head -c 100000 /dev/urandom > "$SRC/f$i"; done
fi
cat > "$WORK/catcher" <<EOS
#!/bin/sh
exec /usr/bin/time -v -o "$WORK/times/catcher.\$\$" "$(dirname "$MRSYNC")/multicatcher"
EOS
chmod +x "$WORK/catcher"
hosts=$(seq -s, -f 't%g' 1 "$N")
t0=$(date +%s.%N)
ip netns exec "${PFX}m" /usr/bin/time -v -o "$WORK/master.time" "$MRSYNC" -r "$NSRSH" -m "$hosts" -s "$SRC" -t "$DST" \
  --remote-path "$WORK/catcher" -w 120 --status-file "$WORK/status.json" > "$WORK/out" 2>&1 || {
    rc=$?
    # the report without its rtt histogram: errors, totals, and every target not OK
    grep -vE '^ *[0-9]+ +[0-9]+$' "$WORK/out" | grep -vE '^198\.|^t[0-9]+ +OK ' | head -60
    mkdir -p "$REPO/bench/failed"; cp "$WORK/out" "$REPO/bench/failed/many-$(date +%Y%m%d-%H%M%S).out"
    echo "bench: mrsync exited $rc (its whole output kept in bench/failed/)" >&2; exit 1; }
t1=$(date +%s.%N)
bad=0
for i in $(seq 1 "$N"); do
  [ -z "$(in_t "$i" rsync -rlcn --itemize-changes "$SRC/" "$DST/")" ] || bad=$((bad + 1))
done
rss=$(for f in "$WORK"/times/catcher.*; do sed -n 's/.*Maximum resident set size (kbytes): //p' "$f"; done | sort -n)
count=$(echo "$rss" | wc -l)
bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
echo "targets: $N at $LINK Mbit/s, $FILES files $([ "${SMALL:-0}" = 1 ] && echo "of 0.5-4 KB" || echo "of 100 kB") ($((bytes / 1000000)) MB)"
echo "wall: $(echo "$t1 - $t0" | bc) s; ideal at the link: $(echo "scale=1; $bytes * 8 / ($LINK * 1000000)" | bc) s"
grep -E '^(total:|rate:|feedback:|cpu:|[0-9]+ of [0-9]+ targets OK)' "$WORK/out"
echo "master: $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/master.time") kB peak RSS (its own), CPU $(node -e 'const m = require(process.argv[1]).master; console.log(`user ${m.cpuUserSeconds} s, system ${m.cpuSystemSeconds} s`)' "$WORK/status.json") (system: with the simulated LAN's delivery of every datagram to every target's namespace, which the kernel does in the sender's context)"
echo "CPU of the master and everything it started (the rsh, every catcher): user $(sed -n 's/.*User time (seconds): //p' "$WORK/master.time") s, system $(sed -n 's/.*System time (seconds): //p' "$WORK/master.time") s"
echo "catchers ($count): peak RSS max $(echo "$rss" | tail -1) kB, median $(echo "$rss" | sed -n "$(( (count + 1) / 2 ))p") kB"
echo "verified: $((N - bad)) of $N exact"
[ "$bad" = 0 ]
