#!/usr/bin/env bash
# A target where a directory of the source is a symlink pointing outside the
# destination: nothing is written through it; it is replaced by a real directory.
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
run_master -m t1 -s "$SRC" -t "$DST" --rate 300m -w 10 > "$WORK/out" 2>&1 || { cat "$WORK/out"; fail "exit $?"; }
cat "$WORK/out"
[ "$(cat "$OUTSIDE/passwd")" = original ] || fail "wrote through the planted symlink"
[ ! -e "$OUTSIDE/blob" ] || fail "created a file through the planted symlink"
[ -d "$(disk t1)/etc" ] && [ ! -L "$(disk t1)/etc" ] || fail "the symlink was not replaced by a directory"
verify "$SRC" "$(disk t1)"
echo PASS
