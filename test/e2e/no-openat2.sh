#!/usr/bin/env bash
# Kernels before 5.6 have no openat2: master and catchers then open every
# path one component at a time, O_NOFOLLOW (native/fsops.cc openWalk).
# MRSYNC_NO_OPENAT2=1 forces that walk here (it reaches the catchers through
# the remote shell stand-in), and two scenarios run again on it: the
# symlink escapes (before and during a transfer) and the sync table (every
# entry type, --delete, backups, filters).
export MRSYNC_NO_OPENAT2=1
here=$(dirname "$0")
node -e "if (require(process.argv[1]).native.openat2Used()) process.exit(1)" "$(cd "$here/../.." && pwd)/dist/src/native.js" || { echo "FAIL: the walk is not used" >&2; exit 1; }
bash "$here/symlink-escape.sh" || exit 1
bash "$here/sync-table.sh"
