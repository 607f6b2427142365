#!/usr/bin/env bash
# The master killed mid-transfer: every catcher exits within a bounded time,
# removes its temp files, and nothing half-written stands at a final name.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
head -c 10000000 /dev/urandom > "$SRC/data.bin"
echo "old" > "$(disk t1)/data.bin"

ip netns exec "${PFX}m" "$MRSYNC" -r "$NSRSH" -m t1,t2 -s "$SRC" -t "$DST" --rate 20m -w 10 > "$WORK/out" 2>&1 &
pid=$!
await_temp t2 data.bin
sleep 0.5
kill -9 $pid
wait $pid 2>/dev/null || true
# catchers notice their stdin closed and exit
for _ in $(seq 1 100); do
  n=0; for i in 1 2; do n=$((n + $(ip netns pids "${PFX}t$i" | xargs -r ps -o args= -p | grep -c multicatcher || true))); done
  [ "$n" = 0 ] && break
  sleep 0.1
done
[ "$n" = 0 ] || fail "$n catchers still running 10 s after the master died"
for i in 1 2; do
  ls -a "$(disk t$i)" | grep -q '\.mrsync\.' && fail "temp file left on t$i"
done
[ "$(cat "$(disk t1)/data.bin")" = old ] || fail "t1's old file was replaced by a partial one"
[ ! -e "$(disk t2)/data.bin" ] || fail "t2 has a partial file at the final name"
echo PASS
