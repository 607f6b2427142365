#!/usr/bin/env bash
# Soak: PUSHES pushes in a row (default 30) to N targets (default 50) with
# the defaults (no --rate), each over LINK Mbit/s links (default 20, tbf on
# the master's uplink and every switch port) with LOSS permille of random
# loss at each target (default 5), as a user would run them one after
# another: the rate the last push found is kept (~/.cache/mrsync, here in
# the run's own directory). Each push sends a tree of FILES files (default
# 40 of 256 KiB) to emptied targets, bounded at 180 s (a push that reaches
# it has hung). Prints one line per push (wall time, exit status, where the
# rate started and ended, every copy verified), then the median, the worst
# and their ratio. Exit status 1 if any push failed, hung, left a copy that
# differs, or took more than twice the median.
#
#   bash bench/soak.sh [PUSHES] [N] [LINK] [LOSS] [FILES]
set -euo pipefail
PUSHES=${1:-30}; N=${2:-50}; LINK=${3:-20}; LOSS=${4:-5}; FILES=${5:-40}
source "$(dirname "$0")/../test/e2e/lib.sh"
trap lan_down EXIT
lan_up "$N"
DST="$WORK/dst"; SRC="$WORK/src"; mkdir -p "$DST" "$SRC"
shape "${PFX}m" eth0 "$LINK"
for i in $(seq 1 "$N"); do
  bench_target "t$i" "$DST" size=256m "$LINK"
  [ "$LOSS" = 0 ] || loss "t$i" "$LOSS"
done
for i in $(seq 1 "$FILES"); do head -c 262144 /dev/urandom > "$SRC/f$i"; done
hosts=$(seq -s, -f 't%g' 1 "$N")
walls=(); bad=0
echo "soak: $PUSHES pushes of $FILES files ($((FILES / 4)) MiB) to $N targets, $LINK Mbit/s, $LOSS permille loss, defaults"
for p in $(seq 1 "$PUSHES"); do
  for i in $(seq 1 "$N"); do in_t "$i" find "$DST" -mindepth 1 -delete; done
  rc=0; t0=$(date +%s.%N)
  ip netns exec "${PFX}m" timeout 180 "$MRSYNC" -r "$NSRSH" -m "$hosts" -s "$SRC" -t "$DST" -w 60 > "$WORK/out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  wall=$(echo "$t1 - $t0" | bc -l); walls+=("$wall")
  differ=0
  for i in $(seq 1 "$N"); do [ -z "$(in_t "$i" rsync -rlcn --itemize-changes "$SRC/" "$DST/")" ] || differ=$((differ + 1)); done
  rate=$(sed -n 's/^rate: found from feedback, \(.* -> [0-9.]*\) Mbit\/s (.*/\1/p' "$WORK/out")
  state=ok
  [ "$rc" = 0 ] || state="exit $rc$( [ "$rc" = 124 ] && echo ' (hung: stopped at 180 s)')"
  [ "$differ" = 0 ] || state="$state, $differ copies differ"
  [ "$state" = ok ] || { bad=1; mkdir -p "$REPO/bench/failed"; cp "$WORK/out" "$REPO/bench/failed/soak-$(date +%Y%m%d-%H%M%S)-$p.out"; }
  printf 'push %2d: %6.1f s  rate %s Mbit/s  %s\n' "$p" "$wall" "$rate" "$state"
done
sorted=$(printf '%s\n' "${walls[@]}" | sort -n)
median=$(echo "$sorted" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
worst=$(echo "$sorted" | tail -1)
ratio=$(echo "$worst / $median" | bc -l)
printf 'soak: median %.1f s, worst %.1f s, worst/median %.2f\n' "$median" "$worst" "$ratio"
[ "$(echo "$ratio > 2" | bc)" = 0 ] || { echo "soak: a push took more than twice the median" >&2; bad=1; }
exit "$bad"
