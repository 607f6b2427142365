#!/usr/bin/env bash
# The rate found from feedback: the master's uplink shaped to 20 Mbit/s
# (tbf), no --rate: mrsync starts at 10 Mbit/s, settles near the link from
# the targets' reports, finishes in well under twice the ideal time, exact.
# The probe train (wire/train.ts) reads the 20 Mbit/s link before the data
# goes: the rate line names what it came through at.
# The next push to the same targets starts from the rate this one found;
# --max-rate caps it; --rate fixes it.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
ip netns exec "${PFX}m" tc qdisc add dev eth0 root tbf rate 20mbit burst 32kb latency 50ms
head -c 24000000 /dev/urandom > "$SRC/big.bin"
t0=$(date +%s.%N)
run_rc "$WORK/out" -m t1,t2 -s "$SRC" -t "$DST" -w 20
t1=$(date +%s.%N)
cat "$WORK/out"
[ "$RC" = 0 ] || fail "exit $RC"
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
line=$(grep '^rate: found from feedback, 10\.0 -> ' "$WORK/out") || fail "no adaptive rate line from the 10 Mbit/s start"
final=$(echo "$line" | sed -n 's/.* -> \([0-9.]*\) Mbit\/s.*/\1/p')
probe=$(echo "$line" | sed -n 's/.*(probe train \([0-9.]*\) Mbit\/s at 2 targets,.*/\1/p')
[ -n "$probe" ] || fail "no probe train reading from both targets"
[ "$(echo "$probe > 15 && $probe < 26" | bc)" = 1 ] || fail "the probe train read $probe Mbit/s on a 20 Mbit/s link"
wall=$(echo "$t1 - $t0" | bc)
echo "probe train $probe Mbit/s, final rate $final Mbit/s, wall $wall s (ideal at 20 Mbit/s: 9.6 s + start)"
[ "$(echo "$final > 8 && $final < 35" | bc)" = 1 ] || fail "the rate did not settle near the 20 Mbit/s link: $final"
[ "$(echo "$wall < 20" | bc)" = 1 ] || fail "took $wall s, more than twice the ideal"

grep -q '"bps"' "$XDG_CACHE_HOME/mrsync/rates.json" || fail "the rate found was not kept for the next push"

# --max-rate caps it (the next push starts from the last one's rate, capped)
rm -f "$SRC/big.bin"; head -c 3000000 /dev/urandom > "$SRC/small.bin"
run_rc "$WORK/out2" -m t1,t2 -s "$SRC" -t "$DST" -w 20 --max-rate 8m
[ "$RC" = 0 ] || { cat "$WORK/out2"; fail "--max-rate exit $RC"; }
grep -Eq "^rate: found from feedback, 8\.0 \(the last push's\) -> [0-9.]+ Mbit/s \(peak 8\.0, cap 8\.0" "$WORK/out2" || { cat "$WORK/out2"; fail "--max-rate 8m not kept"; }
# --rate fixes it; both together is bad input
run_rc "$WORK/out3" -m t1,t2 -s "$SRC" -t "$DST" -w 20 --rate 15m
[ "$RC" = 0 ] || { cat "$WORK/out3"; fail "--rate 15m exit $RC"; }
for i in 1 2; do cmp "$SRC/small.bin" "$(disk t$i)/small.bin" || fail "--rate 15m: t$i's small.bin differs"; done
grep -q '^rate: fixed at 15.0 Mbit/s' "$WORK/out3" || { cat "$WORK/out3"; fail "--rate 15m not fixed"; }
run_rc "$WORK/out4" -m t1,t2 -s "$SRC" -t "$DST" --rate 15m --max-rate 20m
[ "$RC" = 1 ] && grep -q 'give one of them' "$WORK/out4" || { cat "$WORK/out4"; fail "--rate with --max-rate accepted"; }
echo PASS
