#!/usr/bin/env bash
# Five targets in different starting states, 1% random loss at every target:
# every target ends with an exact copy; a second run sends no file data.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 5
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST"
make_tree "$SRC"
for i in 1 2 3 4 5; do host_mounts "t$i" "$DST" >/dev/null; loss "t$i" 10; done
# t1 empty; t2 partial; t3 stale (old content, same names); t4 complete; t5 has extras
rsync -a "$SRC/sub" "$(disk t2)/"
rsync -a "$SRC/" "$(disk t3)/"
for f in "$(disk t3)"/sub/f1 "$(disk t3)"/big.bin; do echo stale > "$f"; done
chmod 0600 "$(disk t3)/sub/f2"
touch -d '1999-01-01' "$(disk t3)/one-page.bin"
rsync -aH "$SRC/" "$(disk t4)/"
rsync -a "$SRC/" "$(disk t5)/"; echo extra > "$(disk t5)/not-in-source"

run_master -m t1,t2,t3,t4,t5 -s "$SRC" -t "$DST" --rate 300m -w 20 > "$WORK/out1" 2>&1 || { rc=$?; cat "$WORK/out1"; fail "first run exit $rc"; }
cat "$WORK/out1"
# t5 keeps its extra entry (no --delete): it is the source plus that
for i in 1 2 3 4; do verify "$SRC" "$(disk t$i)"; done
verify_has "$SRC" "$(disk t5)"
[ -f "$(disk t5)/not-in-source" ] || fail "an entry the source does not have was removed without --delete"
grep -q '5 of 5 targets OK' "$WORK/out1" || fail "report does not say 5 of 5 OK"
grep -Eq '^t4 +OK +0 ' "$WORK/out1" || fail "the complete target was sent files"
dropped=0; for i in 1 2 3 4 5; do dropped=$((dropped + $(loss_count t$i))); done
[ "$dropped" -gt 0 ] || fail "the loss rules dropped nothing"
echo "loss rules dropped $dropped datagrams"

run_master -m t1,t2,t3,t4,t5 -s "$SRC" -t "$DST" --rate 300m -w 20 > "$WORK/out2" 2>&1 || { rc=$?; cat "$WORK/out2"; fail "second run exit $rc"; }
cat "$WORK/out2"
grep -q ' 0 files sent (0 B)' "$WORK/out2" || fail "second run on an unchanged tree sent file data"
for i in 1 2 3 4; do verify "$SRC" "$(disk t$i)"; done
verify_has "$SRC" "$(disk t5)"
ls -a "$(disk t1)" "$(disk t3)/sub" | grep -q '\.mrsync\.' && fail "temp files left behind"
echo PASS
