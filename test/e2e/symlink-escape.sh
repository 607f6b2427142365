#!/usr/bin/env bash
# A target where a directory of the source is a symlink pointing outside the
# destination: nothing is written through it; it is replaced by a real directory.
# Then the same attack during a transfer: a directory the catcher has already
# made is swapped for a symlink while pages flow; every later step under it
# fails (ELOOP from openat2 RESOLVE_NO_SYMLINKS) and nothing lands outside.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 1
SRC="$WORK/src"; DST="$WORK/dst"; OUTSIDE="$WORK/outside"
mkdir -p "$SRC/etc" "$DST" "$OUTSIDE"
echo payload > "$SRC/etc/passwd"
head -c 5000 /dev/urandom > "$SRC/etc/blob"
host_mounts t1 "$DST" >/dev/null
ln -s "$OUTSIDE" "$(disk t1)/etc"
echo original > "$OUTSIDE/passwd"
run_master -m t1 -s "$SRC" -t "$DST" --rate 300m -w 10 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "exit $rc"; }
cat "$WORK/out"
[ "$(cat "$OUTSIDE/passwd")" = original ] || fail "wrote through the planted symlink"
[ ! -e "$OUTSIDE/blob" ] || fail "created a file through the planted symlink"
[ -d "$(disk t1)/etc" ] && [ ! -L "$(disk t1)/etc" ] || fail "the symlink was not replaced by a directory"
verify "$SRC" "$(disk t1)"

# --- swapped in during the transfer ---
SRC2="$WORK/src2"; OUT2="$WORK/outside2"
mkdir -p "$SRC2/a" "$SRC2/d" "$OUT2"
for i in $(seq -w 1 300); do head -c 32768 /dev/urandom > "$SRC2/a/f$i"; done
for i in $(seq 1 20); do echo "secret $i" > "$SRC2/d/g$i"; done
rm -rf "$(disk t1)"/*
set +e
run_master -m t1 -s "$SRC2" -t "$DST" --rate 20m -w 10 > "$WORK/out2" 2>&1 &
pid=$!
# once pages for a/ flow and the catcher has made d/ (planned with a later
# manifest segment than a/'s first files): swap it for a symlink out
for _ in $(seq 1 200); do [ -d "$(disk t1)/d" ] && ls -a "$(disk t1)/a" 2>/dev/null | grep -q '\.mrsync\.' && break; sleep 0.05; done
[ -d "$(disk t1)/d" ] || fail "d/ was not made before the data phase"
mv "$(disk t1)/d" "$(disk t1)/d.moved" && ln -s "$OUT2" "$(disk t1)/d"
wait $pid
rc=$?
set -e
cat "$WORK/out2"
[ -z "$(ls -A "$OUT2")" ] || { ls -la "$OUT2"; fail "wrote through a symlink swapped in during the transfer"; }
[ "$(stat -c %a "$OUT2")" = 755 ] || fail "changed the mode of the directory outside"
[ $rc = 2 ] || fail "exit $rc, want 2 (files under d/ not delivered)"
grep -q 'symlink or a path leaving the target tree' "$WORK/out2" || fail "the report does not say why"
# a re-run replaces the symlink with a directory and completes
rm -rf "$(disk t1)/d.moved"
run_master -m t1 -s "$SRC2" -t "$DST" --rate 300m -w 10 > "$WORK/out3" 2>&1 || { rc=$?; cat "$WORK/out3"; fail "re-run exit $rc"; }
[ -z "$(ls -A "$OUT2")" ] || fail "the re-run wrote outside"
verify "$SRC2" "$(disk t1)"
echo PASS
