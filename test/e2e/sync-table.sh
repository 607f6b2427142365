#!/usr/bin/env bash
# Sync semantics against rsync, case by case. Every case has a "before" tree
# and an "after" tree (the source) and options. Three targets start in three
# states: t1 empty, t2 = before, t3 = before plus junk (extra files and
# directories, a changed mode, a changed file). Each target's starting state
# is also copied locally and brought up to date with `rsync -aH --delete` and
# the same options; after the mrsync push every target must match its rsync
# twin entry for entry (treecmp: type, mode, owner, size, ns mtime, content,
# symlink target, hardlink grouping), and `rsync -aHn --delete
# --itemize-changes --checksum` between them must print nothing.
# CASES="name1 name2" runs a subset.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 3
# small manifest segments: parents, hardlink leaders and --delete span segments
export MRSYNC_TEST_SEG_ENTRIES=7
T0=1600000000
# f PATH CONTENT [MTIME]; d PATH; l PATH TARGET; h NEW EXISTING
f() { mkdir -p "$(dirname "$1")"; printf '%s' "$2" > "$1"; touch -h -d "@${3:-$T0}" "$1"; }
d() { mkdir -p "$1"; }
l() { mkdir -p "$(dirname "$1")"; ln -s "$2" "$1"; touch -h -d "@$T0" "$1"; }
h() { ln "$2" "$1"; }
fixdirs() { find "$1" -type d -exec touch -h -d "@$T0" {} +; }

# a base every case shares: some ordinary content that stays the same
base() {
  f "$1/keep/a.txt" "unchanged a"
  f "$1/keep/b.bin" "$(head -c 3000 /dev/zero | tr '\0' 'b')"
  l "$1/keep/link" a.txt
}

# ---- the cases: before_NAME DIR, after_NAME DIR, OPTS_NAME ----
before_new_file() { :; };               after_new_file() { f "$1/new.txt" "fresh"; }
before_content() { f "$1/c" "old content" 1600000100; }; after_content() { f "$1/c" "new content" 1600000200; }
before_size() { f "$1/s" "short"; };     after_size() { f "$1/s" "a much longer content" 1600000300; }
before_mtime_only() { f "$1/m" "same" 1600000100; }; after_mtime_only() { f "$1/m" "same" 1600000999; }
before_perms_only() { f "$1/p" "perm"; chmod 644 "$1/p"; }; after_perms_only() { f "$1/p" "perm"; chmod 600 "$1/p"; }
before_owner_only() { f "$1/o" "own"; }; after_owner_only() { f "$1/o" "own"; chown 1234:4321 "$1/o"; touch -h -d "@$T0" "$1/o"; }
before_file_deleted() { f "$1/gone" "bye"; }; after_file_deleted() { :; }
before_dir_deleted() { f "$1/olddir/x" 1; f "$1/olddir/sub/y" 2; l "$1/olddir/sub/l" y; }; after_dir_deleted() { :; }
before_file_to_dir() { f "$1/fd" "was a file"; }; after_file_to_dir() { f "$1/fd/inner" "now a dir"; }
before_dir_to_file() { f "$1/df/inner" "was a dir"; f "$1/df/deep/er" z; }; after_dir_to_file() { f "$1/df" "now a file"; }
before_symlink_to_dir() { l "$1/sd" keep; }; after_symlink_to_dir() { f "$1/sd/x" "dir now"; }
before_dir_to_symlink() { f "$1/ds/x" "dir before"; }; after_dir_to_symlink() { l "$1/ds" keep/a.txt; }
before_file_to_symlink() { f "$1/fs" "file before"; }; after_file_to_symlink() { l "$1/fs" keep/b.bin; }
before_symlink_to_file() { l "$1/sf" keep/a.txt; }; after_symlink_to_file() { f "$1/sf" "file after"; }
before_symlink_retarget() { l "$1/rt" one; }; after_symlink_retarget() { l "$1/rt" two; }
before_empty_dirs() { :; }; after_empty_dirs() { d "$1/e1"; d "$1/e2/e3/e4"; }
before_nested_new() { :; }; after_nested_new() { f "$1/n1/n2/n3/leaf" "deep"; f "$1/n1/side" s; }
before_hardlink_join() { f "$1/hj1" "same"; f "$1/hj2" "same"; }; after_hardlink_join() { f "$1/hj1" "same"; h "$1/hj2" "$1/hj1"; }
before_hardlink_split() { f "$1/hs1" "linked"; h "$1/hs2" "$1/hs1"; }; after_hardlink_split() { f "$1/hs1" "linked"; f "$1/hs2" "linked now split"; }
before_hardlink_grow() { f "$1/hg/a" "grp"; h "$1/hg/b" "$1/hg/a"; }
after_hardlink_grow() { f "$1/hg/a" "grp2" 1600000500; h "$1/hg/b" "$1/hg/a"; h "$1/hg/c" "$1/hg/a"; }
before_case_rename() { f "$1/Readme" "text"; }; after_case_rename() { f "$1/README" "text"; }
before_exclude_kept() { f "$1/app.log" "target log"; f "$1/x.dat" "x"; }; after_exclude_kept() { f "$1/app.log" "source log"; }
OPTS_exclude_kept=(--exclude '*.log')
before_exclude_dir() { f "$1/cache/c1" "target cache"; f "$1/cache/sub/c2" c; }
after_exclude_dir() { f "$1/cache/c1" "source cache"; f "$1/src.c" code; }
OPTS_exclude_dir=(--exclude 'cache/')
before_include_only() { f "$1/src/old.h" h; f "$1/src/main.c" "old main"; }
after_include_only() { f "$1/src/main.c" "int main"; f "$1/src/util.c" util; f "$1/src/util.h" hdr; f "$1/doc/readme" doc; }
OPTS_include_only=(--include '*/' --include '*.c' --exclude '*')
before_anchored() { f "$1/top.txt" t0; f "$1/sub/top.txt" s0; }
after_anchored() { f "$1/top.txt" t1; f "$1/sub/top.txt" s1; }
OPTS_anchored=(--exclude /top.txt)
before_doublestar() { f "$1/a/b/c/z" old; f "$1/a/z" old; }
after_doublestar() { f "$1/a/b/c/z" new; f "$1/a/z" new; f "$1/q/z" new; }
OPTS_doublestar=(--exclude 'a/**/z')
before_checksum() { f "$1/cs" "AAAA" 1600000700; }; after_checksum() { f "$1/cs" "BBBB" 1600000700; }
OPTS_checksum=(-c)
before_backup_suffix() { f "$1/bk" "version 1"; f "$1/bkdel" "deleted later"; }
after_backup_suffix() { f "$1/bk" "version 2" 1600000800; }
OPTS_backup_suffix=(-b --suffix .old)
# rsync 3.x sets no directory times with -b and a suffix (its quirk); mrsync sets them as without -b
CMP_backup_suffix=--no-dir-times
before_backup_dir() { f "$1/bd/x" "v1"; f "$1/bd/y" "to delete"; f "$1/bz" "top"; }
after_backup_dir() { f "$1/bd/x" "v2" 1600000900; }
OPTS_backup_dir=(-b --backup-dir BACKUP)
# the backup directories are made during the run, with that moment as their time, in both
norm_backup_dir() { find "$1/BACKUP" -type d -exec touch -h -d "@$T0" {} + 2>/dev/null || true; }
before_dir_perms() { f "$1/dp/x" x; chmod 755 "$1/dp"; }
after_dir_perms() { f "$1/dp/x" x; f "$1/dp/y" y; chmod 700 "$1/dp"; }
before_setuid() { f "$1/su" "prog"; chmod 755 "$1/su"; }; after_setuid() { f "$1/su" "prog2"; chmod 4755 "$1/su"; }
before_odd_names() { f "$1/with space" a; f "$1/$(printf 'new\nline')" b; f "$1/-dash" c; }
after_odd_names() { f "$1/with space" a2 1600001000; }
before_symlinked_dirs() { f "$1/real/x" x; l "$1/via" real; }
after_symlinked_dirs() { f "$1/real/y" y; }
before_dir_mtime() { d "$1/dm"; }; after_dir_mtime() { d "$1/dm"; }
post_after_dir_mtime() { touch -h -d @1600005000 "$1/dm"; }
before_many_changes() { local k; for k in 1 2 3 4 5; do f "$1/mc/f$k" "v1 $k"; done; }
after_many_changes() { local k; for k in 1 3 5 7; do f "$1/mc/f$k" "v2 $k" 1600002000; done; l "$1/mc/f2" f1; d "$1/mc/f4"; }

SUBSET=${CASES:+1} # CASES given: a subset, by choice
CASES=${CASES:-"new_file content size mtime_only perms_only owner_only file_deleted dir_deleted file_to_dir dir_to_file
  symlink_to_dir dir_to_symlink file_to_symlink symlink_to_file symlink_retarget empty_dirs nested_new hardlink_join
  hardlink_split hardlink_grow case_rename exclude_kept exclude_dir include_only anchored doublestar checksum
  backup_suffix backup_dir dir_perms setuid odd_names symlinked_dirs dir_mtime many_changes"}

build() { # build DIR FUNCTION [POST]
  rm -rf "$1"; mkdir -p "$1"
  base "$1"; "$2" "$1"; fixdirs "$1"
  if [ -n "${3:-}" ] && declare -F "$3" > /dev/null; then "$3" "$1"; fi
}
# the paths of itemized lines (code and ' -> target' / ' => leader' cut), sorted
items() { grep -v '^$' | grep -v '^cannot delete' | { if [ -n "${NODIRT:-}" ]; then grep -v '^\.d\.\.t\.\.\.\.\.\. ' || true; else cat; fi; } | cut -c13- | sed 's/ [-=]> .*$//; s#/$##' | sort -u; }
junk() {
  f "$1/junk.txt" "junk"; f "$1/junkdir/sub/j" "junk"; l "$1/junklink" nowhere
  chmod 600 "$1/keep/a.txt"; f "$1/keep/b.bin" "changed on t3" 1600003000
}

n=0
for c in $CASES; do
  n=$((n + 1))
  opts_var="OPTS_$c[@]"
  opts=("--delete" "${!opts_var}")
  cmp_var="CMP_$c"
  NODIRT=${!cmp_var:-}
  build "$SRC" "after_$c" "post_after_$c"
  for i in 1 2 3; do
    # the directory itself is bind-mounted into the target's namespace: empty it, keep it
    find "$(disk t$i)" -mindepth 1 -delete; chmod 755 "$(disk t$i)"; touch -d "@$T0" "$(disk t$i)"
    case $i in
      2) build "$WORK/state" "before_$c"; cp -a "$WORK/state/." "$(disk t$i)/" ;;
      3) build "$WORK/state" "before_$c"; junk "$WORK/state"; cp -a "$WORK/state/." "$(disk t$i)/" ;;
    esac
    rm -rf "$WORK/ref$i" "$WORK/pre$i"; cp -a "$(disk t$i)" "$WORK/ref$i"; cp -a "$(disk t$i)" "$WORK/pre$i"
    rsync -aHn --itemize-changes "${opts[@]}" "$SRC/" "$WORK/pre$i/" > "$WORK/rsyncn$i"
    rsync -aH "${opts[@]}" "$SRC/" "$WORK/ref$i/" > "$WORK/rsync.out" 2>&1 || { cat "$WORK/rsync.out"; fail "$c: rsync itself failed"; }
    # rsync -n itemizes the deletion of a directory it then cannot delete (protected
    # contents); the real run keeps it, and so does mrsync -n: those lines are left out
    { grep '^\*deleting' "$WORK/rsyncn$i" || true; } | cut -c13- | sed 's#/$##' | while IFS= read -r p; do
      if [ -e "$WORK/ref$i/$p" ]; then echo "$p"; fi
    done > "$WORK/bogus$i"
    items < "$WORK/rsyncn$i" | grep -vxF -f "$WORK/bogus$i" > "$WORK/want$i" || true
  done
  # -n first: per target, the same paths as rsync -n itemizes, and nothing changed
  run_rc "$WORK/dry" -m t1,t2,t3 -s "$SRC" -t "$DST" -w 10 -n "${opts[@]}"
  [ "$RC" = 0 ] || { cat "$WORK/dry"; fail "$c: mrsync -n exit $RC"; }
  for i in 1 2 3; do
    sed -n "/^t$i: would send/,/^\$/p" "$WORK/dry" | tail -n +2 | grep -v '^\*backup ' | items > "$WORK/got$i" || true
    diff "$WORK/want$i" "$WORK/got$i" > "$WORK/itemdiff" || { cat "$WORK/dry"; echo "rsync -n (<) vs mrsync -n (>):"; cat "$WORK/itemdiff"; fail "$c: t$i: -n itemizes other paths than rsync -n"; }
    node "$E2E_DIR/treecmp.js" "$(disk t$i)" "$WORK/pre$i" > "$WORK/cmp" || { cat "$WORK/cmp"; fail "$c: t$i: -n changed the target"; }
  done
  run_rc "$WORK/out" -m t1,t2,t3 -s "$SRC" -t "$DST" -w 10 --rate 300m "${opts[@]}"
  [ "$RC" = 0 ] || { cat "$WORK/out"; fail "$c: mrsync exit $RC"; }
  for i in 1 2 3; do
    if declare -F "norm_$c" > /dev/null; then "norm_$c" "$(disk t$i)"; "norm_$c" "$WORK/ref$i"; fi
    cmp_var="CMP_$c"
    # shellcheck disable=SC2086
    if ! node "$E2E_DIR/treecmp.js" ${!cmp_var:-} "$(disk t$i)" "$WORK/ref$i" > "$WORK/cmp"; then
      echo "--- case $c, target t$i: mrsync result vs rsync result:"; cat "$WORK/cmp"; cat "$WORK/out"
      fail "$c: t$i differs from rsync"
    fi
    out=$(rsync -aHn --delete --itemize-changes --checksum "$(disk t$i)/" "$WORK/ref$i/" | { if [ -n "${!cmp_var:-}" ]; then grep -v '^\.d\.\.t\.\.\.\.\.\. ' || true; else cat; fi; })
    [ -z "$out" ] || { echo "$out"; fail "$c: t$i: rsync itemizes differences"; }
  done
  echo "ok $n - $c (${opts[*]})"
done
# every case defined (an after_NAME function) ran, unless a subset was asked for
defined=$(declare -F | awk '$3 ~ /^after_/ { n++ } END { print n + 0 }')
[ -n "$SUBSET" ] || [ "$n" = "$defined" ] || fail "ran $n cases of the $defined defined (a case missing from CASES?)"
echo PASS
