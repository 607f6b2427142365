#!/usr/bin/env bash
# A fault of the catcher itself (an exception where it handles the
# datagrams' events, injected with MRSYNC_TEST_FAULT): the file it was on
# would never be answered for, and the master would wait on it for ever
# while the catcher kept its channel alive. The target fails at once, named
# with the fault; the push ends (exit 2) and leaves no temp file. A fault of
# the master's (MRSYNC_TEST_FAULT=master) is exit 4, an internal error, and
# the catchers end as their channels close, removing their temp files.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 2
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC/d" "$DST"
for i in 1 2 3; do head -c 40000 /dev/urandom > "$SRC/d/big$i"; head -c 2000 /dev/urandom > "$SRC/d/small$i"; done
for i in 1 2; do host_mounts "t$i" "$DST" >/dev/null; done

# faulty_push WHERE OUT: a push to both targets with the fault injected at WHERE, bounded at 60 s; its exit status in RC
faulty_push() {
  set +e
  MRSYNC_TEST_FAULT=$1 ip netns exec "${PFX}m" timeout 60 "$MRSYNC" -r "$NSRSH" -m t1,t2 -s "$SRC" -t "$DST" -w 20 > "$2" 2>&1
  RC=$?
  set -e
}
no_temp_files() {
  local left
  left=$(find "$(disk t1)" "$(disk t2)" -name '.*.mrsync.*' | wc -l)
  [ "$left" = 0 ] || fail "$left temp files left $1"
}

start=$(date +%s)
faulty_push complete "$WORK/out"
took=$(( $(date +%s) - start ))
grep -v '^ *[0-9]* [0-9]*$' "$WORK/out"
[ $RC != 124 ] || fail "the push hung (killed after 60 s)"
[ $RC = 2 ] || fail "exit $RC, want 2"
[ $took -lt 20 ] || fail "took $took s: the targets were not failed at once"
for t in t1 t2; do
  grep -Eq "^$t +FAILED" "$WORK/out" || fail "$t not FAILED"
done
grep -q 'a fault injected for a test' "$WORK/out" || fail "the fault is not named"
no_temp_files "after the catchers' fault"

# the master's own fault
find "$(disk t1)" "$(disk t2)" -mindepth 1 -delete
faulty_push master "$WORK/out2"
tail -5 "$WORK/out2"
[ $RC = 4 ] || fail "a fault of the master's: exit $RC, want 4"
grep -q 'internal error: Error: a fault injected for a test' "$WORK/out2" || fail "the master's fault is not named"
for _ in $(seq 1 50); do
  pgrep -f 'multicatcher' > /dev/null || break
  sleep 0.1
done
! pgrep -f 'multicatcher' > /dev/null || fail "catchers still running 5 s after the master's fault"
no_temp_files "after the master's fault"
echo PASS
