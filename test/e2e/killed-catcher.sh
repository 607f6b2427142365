#!/usr/bin/env bash
# A catcher killed mid-file: the other targets complete, the report names the
# dead one (exit 3), no temp file is left at the dead target's final names,
# and a re-run sends that target only what it lacks and removes the temp
# file the killed catcher left.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 3
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC/small" "$DST"
for i in $(seq 1 30); do head -c 20000 /dev/urandom > "$SRC/small/f$i"; done
head -c 8000000 /dev/urandom > "$SRC/zbig.bin"
for i in 1 2 3; do host_mounts "t$i" "$DST" >/dev/null; done

set +e
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 20m -w 10 > "$WORK/out" 2>&1 &
pid=$!
# kill t2's catcher once its temp file for the big file exists
await_temp t2 zbig.bin
ls -a "$(disk t2)" > "$WORK/before-kill"
ip netns pids "${PFX}t2" | xargs -r ps -o pid=,args= -p > "$WORK/ps"
# the catcher (node) first, then the shell that started it: killed the other way round, the shell's end closes
# the catcher's stdin (the master ends the channel), and a catcher whose stdin closes removes its temp files
# as it should; on a busy machine that came between the two signals of one kill(1) (1 run in ~30 under load)
awk '/multicatcher/ && $2 ~ /node$/ {print $1}' "$WORK/ps" | xargs -r kill -9
awk '/multicatcher/ && $2 !~ /node$/ {print $1}' "$WORK/ps" | xargs -r kill -9 2>/dev/null || true
wait $pid
rc=$?
set -e
cat "$WORK/out"
[ $rc = 3 ] || fail "exit $rc, want 3"
grep -Eq '^t2 +DROPPED .*catcher exited early' "$WORK/out" || fail "t2 not named as dropped"
for i in 1 3; do verify "$SRC" "$(disk t$i)"; done
[ ! -e "$(disk t2)/zbig.bin" ] || fail "t2 has a file at the final name of the interrupted transfer"
# whatever t2 completed before it died is exact; everything else is absent (temp files aside)
have=0
for f in "$(disk t2)"/small/f*; do
  [ -e "$f" ] || continue
  cmp -s "$f" "$SRC/small/$(basename "$f")" || fail "t2 holds a wrong $(basename "$f")"
  have=$((have + 1))
done
echo "t2 had completed $have of 30 small files"
ls -a "$(disk t2)" | grep -q '^\.zbig\.bin\.mrsync\.' || {
  # what was there before the kill, what was killed, what is there now
  echo "before the kill:"; cat "$WORK/before-kill"; echo "processes:"; cat "$WORK/ps"; echo "now:"; ls -la "$(disk t2)"
  fail "the SIGKILLed catcher left no temp file (the test lost its point)"
}

# the re-run sends t2 exactly what it lacks, and nothing to the others
run_master -m t1,t2,t3 -s "$SRC" -t "$DST" --rate 100m -w 10 > "$WORK/out2" 2>&1 || { rc=$?; cat "$WORK/out2"; fail "re-run exit $rc"; }
cat "$WORK/out2"
grep -Eq "^t2 +OK +$((31 - have)) " "$WORK/out2" || fail "re-run did not send t2 exactly the $((31 - have)) files it lacked"
grep -Eq '^t1 +OK +0 ' "$WORK/out2" || fail "re-run sent t1 files"
verify "$SRC" "$(disk t2)"
left=$(find "$(disk t2)" -name '*.mrsync.*')
[ -z "$left" ] || fail "stale temp files left after the re-run: $left"
grep -Eq 't2: removed [0-9]+ temp file\(s\) left by an earlier, interrupted run' "$WORK/out2" || fail "the re-run did not report the stale temp it removed"

# a temp file that another push into the same directory is writing (its catcher holds it locked,
# as flock(1) does here) is left alone; one that no catcher holds is an interrupted run's: removed
live="$(disk t2)/.zlive.mrsync.0123456789ab"; dead="$(disk t2)/.zdead.mrsync.0123456789ab"
echo live > "$live"; echo dead > "$dead"
# hold_live: $live locked by a process of its own (holder), as a catcher holds its temp file, once the lock is taken
hold_live() {
  flock -x "$live" sleep 60 & holder=$!
  for _ in $(seq 1 100); do flock -n -x "$live" true || break; sleep 0.05; done
}
hold_live
run_master -m t2 -s "$SRC" -t "$DST" -w 10 > "$WORK/out3" 2>&1 || { rc=$?; cat "$WORK/out3"; fail "third run exit $rc"; }
kill "$holder"; wait "$holder" 2>/dev/null || true
[ -e "$live" ] || fail "a temp file another catcher holds was removed"
[ ! -e "$dead" ] || fail "a temp file no catcher holds was not removed"
# nor does --delete take it for an extraneous file
hold_live
echo extra > "$(disk t2)/extra"
run_master -m t2 -s "$SRC" -t "$DST" --delete -w 10 > "$WORK/out4" 2>&1 || { rc=$?; cat "$WORK/out4"; fail "--delete run exit $rc"; }
kill "$holder"; wait "$holder" 2>/dev/null || true
[ -e "$live" ] || fail "--delete removed a temp file another catcher holds"
[ ! -e "$(disk t2)/extra" ] || fail "--delete left an extraneous file"
rm -f "$live"
echo PASS
