#!/usr/bin/env bash
# Lists, backups across runs, a file as -s, and bad input for the sync
# options: -l globs (the original's example), --files-from with --trim and
# missing parents, -b twice with one suffix (no collision), the default
# suffix, and one-line errors that change nothing.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
mkdir -p "$SRC/subs" "$SRC/sub2/path" "$SRC/other"
for n in a.c b.c c.h; do echo "$n" > "$SRC/$n"; done
echo foo1 > "$SRC/subs/foo1"; echo foo2 > "$SRC/subs/foobar"; echo bar > "$SRC/subs/bar"
mkdir -p "$SRC/subs/foodir/deep"; echo deep > "$SRC/subs/foodir/deep/x"
echo 12 > "$SRC/sub2/path/12.ext"; echo ab > "$SRC/sub2/path/ab.ext"; echo 7 > "$SRC/sub2/path/7.ext"
echo o > "$SRC/other/o"
listing() { (cd "$1" && find . -mindepth 1 | sort | tr '\n' ' '); }

# 1. -l: the original's example; matched directories whole, nothing else
run_rc "$WORK/o1" -m t1,t2 -s "$SRC" -t "$DST" -w 10 -l '*.c,subs/foo*,sub2/path/[0-9][0-9].ext'
[ "$RC" = 0 ] || { cat "$WORK/o1"; fail "-l exit $RC"; }
want="./a.c ./b.c ./sub2 ./sub2/path ./sub2/path/12.ext ./subs ./subs/foo1 ./subs/foobar ./subs/foodir ./subs/foodir/deep ./subs/foodir/deep/x "
for i in 1 2; do
  got=$(listing "$(disk t$i)")
  [ "$got" = "$want" ] || fail "-l on t$i sent: $got"
  cmp "$SRC/subs/foodir/deep/x" "$(disk t$i)/subs/foodir/deep/x"
done

# 2. --files-from with absolute lines and --trim; a listed directory comes without its contents
find "$(disk t1)" "$(disk t2)" -mindepth 1 -delete
printf '%s\n' "/export/data/other/o" "/export/data/sub2/path/7.ext" "/export/data/subs" "" "# a comment" > "$WORK/list"
run_rc "$WORK/o2" -m t1,t2 -s "$SRC" -t "$DST" -w 10 --files-from "$WORK/list" --trim /export/data/
[ "$RC" = 0 ] || { cat "$WORK/o2"; fail "--files-from exit $RC"; }
want="./other ./other/o ./sub2 ./sub2/path ./sub2/path/7.ext ./subs "
[ "$(listing "$(disk t1)")" = "$want" ] || fail "--files-from sent: $(listing "$(disk t1)")"
[ "$(stat -c %Y "$(disk t1)/sub2")" = "$(stat -c %Y "$SRC/sub2")" ] || fail "an implied parent did not get its source time"

# 3. -b twice with the same suffix: the second run replaces the first backup, no failure
echo v1 > "$SRC/other/o"
run_rc "$WORK/o3" -m t1,t2 -s "$SRC" -t "$DST" -w 10 -b --suffix .prev
[ "$RC" = 0 ] || { cat "$WORK/o3"; fail "-b run 1 exit $RC"; }
echo v2 > "$SRC/other/o"; touch -d '+1 min' "$SRC/other/o"
run_rc "$WORK/o4" -m t1,t2 -s "$SRC" -t "$DST" -w 10 -b --suffix .prev
[ "$RC" = 0 ] || { cat "$WORK/o4"; fail "-b run 2 exit $RC"; }
echo v3 > "$SRC/other/o"; touch -d '+2 min' "$SRC/other/o"
run_rc "$WORK/o5" -m t1,t2 -s "$SRC" -t "$DST" -w 10 -b --suffix .prev
[ "$RC" = 0 ] || { cat "$WORK/o5"; fail "-b run 3 exit $RC (backups collided?)"; }
for i in 1 2; do
  [ "$(cat "$(disk t$i)/other/o")" = v3 ] || fail "t$i: not the new version"
  [ "$(cat "$(disk t$i)/other/o.prev")" = v2 ] || fail "t$i: the backup is not the version replaced last"
done
grep -Eq '^t1 +OK .*backed up' "$WORK/o5" || fail "the report does not count backups"
# the default suffix is the original's _mcast_bakMMDDhhmm
echo v4 > "$SRC/other/o"; touch -d '+3 min' "$SRC/other/o"
run_rc "$WORK/o6" -m t1 -s "$SRC" -t "$DST" -w 10 -b
[ "$RC" = 0 ] || { cat "$WORK/o6"; fail "-b default suffix exit $RC"; }
ls "$(disk t1)/other" | grep -Eq '^o_mcast_bak[0-9]{8}$' || fail "no o_mcast_bakMMDDhhmm backup: $(ls "$(disk t1)/other")"

# 4. a file as -s: sent into the directory that holds it, or -t; that directory's own metadata left alone
mkdir -p "$(disk t2)/into"; chmod 700 "$(disk t2)/into"
run_rc "$WORK/o7" -m t2 -s "$SRC/a.c" -t "$DST/into" -w 10
[ "$RC" = 0 ] || { cat "$WORK/o7"; fail "file source exit $RC"; }
cmp "$SRC/a.c" "$(disk t2)/into/a.c"
[ "$(stat -c %a "$(disk t2)/into")" = 700 ] || fail "a file source changed its target directory's mode"
[ "$(listing "$(disk t2)/into")" = "./a.c " ] || fail "a file source sent more than the file"

# 5. bad input: one line, exit 1, nothing changed anywhere
before=$(listing "$(disk t1)")
bad() {
  local want=$1; shift
  run_rc "$WORK/bad" -m t1,t2 -s "$SRC" -t "$DST" -w 10 "$@"
  [ "$RC" = 1 ] || { cat "$WORK/bad"; fail "$* : exit $RC, want 1"; }
  [ "$(wc -l < "$WORK/bad")" = 1 ] || { cat "$WORK/bad"; fail "$* : more than one line"; }
  grep -q -- "$want" "$WORK/bad" || { cat "$WORK/bad"; fail "$* : no '$want'"; }
}
bad "pattern '\[abc' cannot parse" --exclude '[abc' --delete
printf '/elsewhere/x\n' > "$WORK/outside"
bad "line 1: /elsewhere/x is outside -s" --files-from "$WORK/outside"
printf 'a.c\n../../etc/passwd\n' > "$WORK/climb"
bad "line 2: ../../etc/passwd is outside -s" --files-from "$WORK/climb"
printf 'nope/x\n' > "$WORK/missing"
bad "nope/x: no such file or directory in -s" --files-from "$WORK/missing"
bad "-X cannot be combined with -b" -X -b
bad "--trim is for --files-from" --trim /x
bad "matches nothing under -s" -l 'zzz*'
bad "--suffix is for -b" --suffix .x
[ "$(listing "$(disk t1)")" = "$before" ] || fail "bad input changed a target"
# a target path that is a file there: that target fails with the reason, unchanged
echo plain > "$(disk t2)/isfile"
run_rc "$WORK/o8" -m t1,t2 -s "$SRC" -t "$DST/isfile" -w 10
[ "$RC" = 2 ] || { cat "$WORK/o8"; fail "target path is a file: exit $RC, want 2"; }
grep -Eq '^t2 +FAILED .*exists and is not a directory' "$WORK/o8" || { cat "$WORK/o8"; fail "t2 not failed with the reason"; }
[ "$(cat "$(disk t2)/isfile")" = plain ] || fail "the file in the way was changed"
echo PASS
