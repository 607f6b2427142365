#!/usr/bin/env bash
# What starting the programs costs: the CPU of a catcher that starts and
# ends at once (stdin closed: what every target pays before the session
# header), and of `mrsync --version` (the master's start), each the mean of
# RUNS starts (default 30: three rounds of RUNS/3 under one /usr/bin/time,
# whose 10 ms resolution is then 1 ms a start at worst); then the wall time
# of a push of one 100 kB file to one simulated target (the master's start,
# the catcher's start through the remote shell, the push, the end), median
# of RUNS/3. No network but the namespaces of test/e2e/lib.sh.
#
#   bash bench/start.sh
#   MRSYNC_B=/other/clone/bin/mrsync bash bench/start.sh     (A/B: the two builds alternate, same run)
#
# For the launch at fleet size: `bash bench/many.sh 200 5 1` (one file to 200 targets).
set -euo pipefail
RUNS=${RUNS:-30}
source "$(dirname "$0")/../test/e2e/lib.sh"
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time" >&2; exit 1; }
builds=("$MRSYNC")
[ -n "${MRSYNC_B:-}" ] && builds+=("$MRSYNC_B")
unset NODE_EXTRA_CA_CERTS

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# CPU ms (user + system) of N runs of "$@" (stdin closed), per run
cpu_ms() {
  local n=$1; shift
  /usr/bin/time -f '%U %S' -o "$WORK/time" sh -c 'n=$1; shift; i=0; while [ $i -lt $n ]; do "$@" < /dev/null > /dev/null 2>&1; i=$((i + 1)); done' sh "$n" "$@"
  awk -v n="$n" '{printf "%.1f\n", ($1 + $2) * 1000 / n}' "$WORK/time"
}
mean() { awk '{s += $1; n++} END {printf "%.1f", s / n}'; }

trap lan_down EXIT
lan_up 1
SRC="$WORK/src"; mkdir -p "$SRC" "$WORK/dst"; head -c 100000 /dev/urandom > "$SRC/f1"
bench_target t1 "$WORK/dst" size=64m 1000

declare -A cat_ms ver_ms push_s
for ((k = 0; k < 3; k++)); do
  for b in "${builds[@]}"; do
    cat_ms[$b]+="$(cpu_ms $((RUNS / 3)) "$(dirname "$b")/multicatcher") "
    ver_ms[$b]+="$(cpu_ms $((RUNS / 3)) "$b" --version) "
  done
done
for ((k = 0; k < (RUNS + 2) / 3; k++)); do
  for b in "${builds[@]}"; do
    in_t 1 rm -rf "$WORK/dst/x"
    t0=$(date +%s.%N)
    ip netns exec "${PFX}m" "$b" -r "$NSRSH" -m t1 -s "$SRC" -t "$WORK/dst/x" --remote-path "$(dirname "$b")/multicatcher" -w 60 \
      > "$WORK/out" 2>&1 || { cat "$WORK/out"; echo "bench: the push with $b failed" >&2; exit 1; }
    t1=$(date +%s.%N)
    in_t 1 cmp -s "$SRC/f1" "$WORK/dst/x/f1" || { echo "bench: the copy with $b differs" >&2; exit 1; }
    push_s[$b]+="$(echo "scale=3; ($t1 - $t0) / 1" | bc) "
  done
done
echo "| build | catcher start, CPU ms (mean of $RUNS) | mrsync --version, CPU ms (mean of $RUNS) | one 100 kB file to 1 target, wall s (median of $(( (RUNS + 2) / 3 ))) |"
echo "|---|---|---|---|"
for b in "${builds[@]}"; do
  echo "| $b | $(tr ' ' '\n' <<< "${cat_ms[$b]}" | grep . | mean) | $(tr ' ' '\n' <<< "${ver_ms[$b]}" | grep . | mean) | $(tr ' ' '\n' <<< "${push_s[$b]}" | grep . | median) |"
done
