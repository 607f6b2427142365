#!/usr/bin/env bash
# A wall clock that steps during a push (NTP stepping a machine's clock, a VM
# resumed): every interval the master and the catchers time is taken on the
# monotonic clock, so the push neither drops its targets as silent (a step
# forward), nor stops judging silence or its rate (a step backward). The step
# is made by an LD_PRELOAD shim (clockstep.c) on the process's own clock.
# And the master itself not running for a while: that time is no target's silence.
#   1. the master's clock steps forward an hour a second in: exit 0, every copy exact
#   2. the master's clock steps back an hour a second in, and t2's catcher stops
#      (SIGSTOP: its channel open, silent): t2 dropped as silent within -w, the others exact
#   3. every catcher's clock steps back an hour, the rate found from their reports (20 Mbit/s
#      ports): exit 0, exact
#   4. the master itself stopped for 8 s (^Z, SIGSTOP, its machine suspended) with -w 3, then
#      continued: exit 0, exact (that time is no target's silence)
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

SHIM="$WORK/clockstep.so"
# (a C compiler: the addon's build needs one; .ci/run installs clang)
CC=${CC:-$(command -v cc || command -v gcc || command -v clang)}
"$CC" -shared -fPIC -O2 -o "$SHIM" "$E2E_DIR/clockstep.c" -ldl || fail "cannot build the clock shim"
targets_up 3
mkdir -p "$SRC/sub"
head -c 6000000 /dev/urandom > "$SRC/big.bin"
for i in $(seq 1 40); do head -c $((i * 1500)) /dev/urandom > "$SRC/sub/f$i"; done
# the remote shell, without the master's shim (plain), or with one for the catchers (stepped)
printf '#!/bin/sh\nunset LD_PRELOAD CLOCK_STEP_AFTER_MS CLOCK_STEP_MS\nexec "%s" "$@"\n' "$NSRSH" > "$WORK/rsh-plain"
printf '#!/bin/sh\nexport LD_PRELOAD="%s" CLOCK_STEP_AFTER_MS=300 CLOCK_STEP_MS=-3600000\nexec "%s" "$@"\n' "$SHIM" "$NSRSH" > "$WORK/rsh-stepped"
chmod +x "$WORK/rsh-plain" "$WORK/rsh-stepped"
clear_dst() { local i; for i in 1 2 3; do rm -rf "$(disk t$i)"/* "$(disk t$i)"/.[!.]*; done; }

# push OUT STEP_MS RSH ARGS...: a push whose master's clock steps by STEP_MS (0: none) a second in
push() {
  local out=$1 step=$2 rsh=$3
  shift 3
  set +e
  if [ "$step" != 0 ]; then
    ip netns exec "${PFX}m" env LD_PRELOAD="$SHIM" CLOCK_STEP_AFTER_MS=1000 CLOCK_STEP_MS="$step" \
      timeout 120 "$MRSYNC" -r "$rsh" -m t1,t2,t3 -s "$SRC" -t "$DST" "$@" > "$out" 2>&1
  else
    ip netns exec "${PFX}m" timeout 120 "$MRSYNC" -r "$rsh" -m t1,t2,t3 -s "$SRC" -t "$DST" "$@" > "$out" 2>&1
  fi
  RC=$?
  set -e
}

# 1. forward an hour
s=$(date +%s)
push "$WORK/out1" 3600000 "$WORK/rsh-plain" --rate 20m -w 5
cat "$WORK/out1"
[ "$RC" = 0 ] || fail "1. the master's clock stepped forward: exit $RC, want 0"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
[ $(($(date +%s) - s)) -lt 30 ] || fail "1. took $(($(date +%s) - s)) s"
# (and the report's seconds are the push's, not the step's)
grep -Eq '^total: .*, [0-9]\.[0-9] s, ' "$WORK/out1" || fail "1. the report's time is not the push's"

# 2. back an hour, and t2's catcher stopped once its temp file for the big file is there
clear_dst
(push "$WORK/out2" -3600000 "$WORK/rsh-plain" --rate 10m -w 5; exit "$RC") &
pid=$!
await_temp t2 big.bin
victim=$(node_pids t2 multicatcher)
[ -n "$victim" ] || fail "2. no catcher on t2"
kill -STOP $victim
s=$(date +%s)
set +e
wait $pid
RC=$?
set -e
took=$(($(date +%s) - s))
kill -KILL $victim 2>/dev/null || true
cat "$WORK/out2"
[ "$RC" = 3 ] || fail "2. the master's clock stepped back, t2 stopped: exit $RC, want 3"
grep -Eq '^t2 +DROPPED +0 .* silent for 5 s after it had answered$' "$WORK/out2" || fail "2. t2 not dropped as silent after it had answered"
[ "$took" -lt 40 ] || fail "2. t2 dropped $took s after it stopped (-w 5)"
for i in 1 3; do verify "$SRC" "$(disk t$i)"; done

# 3. every catcher's clock back an hour 0.3 s after it starts; the rate found from their reports
# (20 Mbit/s ports: a push of about 3 s)
clear_dst
for i in 1 2 3; do shape "${PFX}sw" "${PFX}t$i" 20; done
s=$(date +%s)
push "$WORK/out3" 0 "$WORK/rsh-stepped" -w 5
cat "$WORK/out3"
[ "$RC" = 0 ] || fail "3. the catchers' clocks stepped back: exit $RC, want 0"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
[ $(($(date +%s) - s)) -lt 30 ] || fail "3. took $(($(date +%s) - s)) s"

# 4. the master stopped for 8 s (^Z in its terminal, SIGSTOP; its machine suspended), longer than -w,
# then continued: that time is no target's silence, the push ends with every copy exact
clear_dst
(push "$WORK/out4" 0 "$WORK/rsh-plain" --rate 10m -w 3; exit "$RC") &
pid=$!
await_temp t1 big.bin
master=$(node_pids m mrsync)
[ -n "$master" ] || fail "4. no master process"
kill -STOP $master
sleep 8
kill -CONT $master
set +e
wait $pid
RC=$?
set -e
cat "$WORK/out4"
[ "$RC" = 0 ] || fail "4. the master stopped 8 s with -w 3: exit $RC, want 0"
grep -Eq '^pacing: .*; this process did not run for [89]\.[0-9] s \(stopped or suspended\)$' "$WORK/out4" || fail "4. the report does not say the master was stopped"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)"; done
echo PASS
