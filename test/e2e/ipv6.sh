#!/usr/bin/env bash
# The same push over an IPv6 group (ff15::/16, site scope), two targets, 1% loss.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 2
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST"
make_tree "$SRC"
for i in 1 2; do host_mounts "t$i" "$DST" >/dev/null; loss "t$i" 10; done
run_master -m t1,t2 -s "$SRC" -t "$DST" -A ff15::4d:5253 -I eth0 --rate 300m -w 20 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "exit $rc"; }
cat "$WORK/out"
grep -q '2 of 2 targets OK' "$WORK/out" || fail "not all OK"
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo PASS
