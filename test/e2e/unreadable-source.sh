#!/usr/bin/env bash
# Source entries the master cannot read (a directory and a file of another
# user, a directory it may list but not look into; the master runs as root
# without the capabilities that pass file permissions, as a non-root user
# would): the rest is sent, each unreadable entry is named once in the
# report and the status file, the exit status is 23 (rsync's), and --delete
# removes nothing where the master's listing is incomplete.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
mkdir -p "$SRC/open" "$SRC/closed" "$SRC/nox"
for f in open/a closed/a nox/a locked top; do head -c 5000 /dev/urandom > "$SRC/$f"; done
chmod 700 "$SRC/closed"; chmod 644 "$SRC/nox"; chmod 600 "$SRC/locked"
chown -R 65534:65534 "$SRC/closed" "$SRC/nox" "$SRC/locked"
# t1 holds an older copy: what the master cannot read must stay there as it is
for d in closed nox; do mkdir -p "$(disk t1)/$d"; echo old > "$(disk t1)/$d/old"; done
echo old > "$(disk t1)/locked"
echo extra > "$(disk t1)/extra"
mkdir -p "$(disk t1)/open"; echo extra > "$(disk t1)/open/extra"

set +e
ip netns exec "${PFX}m" timeout 120 setpriv --bounding-set -dac_override,-dac_read_search --inh-caps -all \
  "$MRSYNC" -r "$NSRSH" -m t1,t2 -s "$SRC" -t "$DST" --delete --status-file "$WORK/status.json" > "$WORK/out" 2>&1
rc=$?
set -e
cat "$WORK/out"
[ "$rc" = 23 ] || fail "exit $rc, not 23"
grep -q "could not read .*: 3" "$WORK/out" || fail "the report does not count 3 unreadable entries"
for p in closed nox/a locked; do grep -q "^  $p: .*EACCES" "$WORK/out" || fail "the report does not name $p"; done
grep -q "2 of 2 targets OK" "$WORK/out" || fail "a target was faulted for what the master could not read"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const want = ["closed", "locked", "nox/a"];
  const got = s.unreadable.map((u) => u.path).sort();
  if (s.exitCode !== 23 || JSON.stringify(got) !== JSON.stringify(want)) { console.error(JSON.stringify(s.unreadable), s.exitCode); process.exit(1); }
  if (s.targets.some((t) => t.state !== "OK")) { console.error("a target not OK"); process.exit(1); }
' "$WORK/status.json" || fail "status file"
for i in 1 2; do
  cmp "$SRC/top" "$(disk t$i)/top" || fail "t$i: top not sent"
  cmp "$SRC/open/a" "$(disk t$i)/open/a" || fail "t$i: open/a not sent"
  [ -d "$(disk t$i)/closed" ] && [ -d "$(disk t$i)/nox" ] || fail "t$i: the unreadable directories are not made"
  [ ! -e "$(disk t$i)/nox/a" ] && [ ! -e "$(disk t$i)/closed/a" ] || fail "t$i: got what the master cannot read"
done
# --delete: where the listing is whole, extraneous entries go; where it is not, nothing is removed
[ ! -e "$(disk t1)/extra" ] && [ ! -e "$(disk t1)/open/extra" ] || fail "--delete did not run where the listing is whole"
[ "$(cat "$(disk t1)/closed/old")" = old ] && [ "$(cat "$(disk t1)/nox/old")" = old ] || fail "--delete removed what an unreadable directory may hold"
[ "$(cat "$(disk t1)/locked")" = old ] || fail "t1's copy of an unreadable file was touched"
[ ! -e "$(disk t2)/locked" ] || fail "t2 got an unreadable file"

# for scripts: --status-file - puts the document alone on stdout, the report on stderr.
# (The catchers inherit the master's capability bounding set here, as no real
# remote shell would let them: the copies of the unreadable directories are
# opened up so that they can look into them.)
for i in 1 2; do chmod 755 "$(disk t$i)/closed" "$(disk t$i)/nox"; done
set +e
ip netns exec "${PFX}m" timeout 120 setpriv --bounding-set -dac_override,-dac_read_search --inh-caps -all \
  "$MRSYNC" -r "$NSRSH" -m t1,t2 -s "$SRC" -t "$DST" --status-file - > "$WORK/json" 2> "$WORK/err"
rc=$?
set -e
[ "$rc" = 23 ] || { cat "$WORK/err"; fail "second push: exit $rc, not 23"; }
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (s.exitCode !== 23 || s.unreadable.length !== 3) process.exit(1)' \
  "$WORK/json" || { cat "$WORK/json"; fail "--status-file -: stdout is not the status document"; }
grep -q "2 of 2 targets OK" "$WORK/err" || fail "--status-file -: the report is not on stderr"

# Paths longer than a target's kernel opens (PATH_MAX less its NUL: 4095 bytes
# beneath the root): such an entry (and all under it) is named, left out and
# the rest sent, exit 23; one of exactly 4095 bytes arrives. (Before, the
# master's own manifest check failed the push: exit 4, nothing sent.)
LONG="$WORK/long"; mkdir -p "$LONG"
# tree.py make|check ROOT: 20 directories of 200 bytes, then files whose paths are 4095 and 4096 bytes,
# and a directory of 4220 (with a file in it)
cat > "$WORK/tree.py" <<'PY'
import os, sys
mode, root = sys.argv[1], sys.argv[2]
fd = os.open(root, os.O_RDONLY)
for i in range(20):
    if mode == 'make': os.mkdir('d' * 199 + chr(97 + i), dir_fd=fd)
    nfd = os.open('d' * 199 + chr(97 + i), os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
room = 4095 - 20 * 201
for name, size in (('f' * room, 3000), ('g' * (room + 1), 10)):
    data = bytes((i * 7 + len(name)) % 251 for i in range(size))
    if mode == 'make':
        f = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd); os.write(f, data); os.close(f)
    elif name[0] == 'f':
        f = os.open(name, os.O_RDONLY, dir_fd=fd); got = os.read(f, 10000); os.close(f)
        if got != data: sys.exit('the 4095-byte path arrived other than it is')
    elif name in os.listdir(fd):
        sys.exit('the 4096-byte path arrived')
if mode == 'make':
    os.mkdir('h' * 200, dir_fd=fd)
    f = os.open('h' * 200, os.O_RDONLY, dir_fd=fd); g = os.open('x', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=f); os.close(g); os.close(f)
elif 'h' * 200 in os.listdir(fd):
    sys.exit('the 4220-byte directory arrived')
PY
python3 "$WORK/tree.py" make "$LONG"
set +e
run_master -m t1,t2 -s "$LONG" -t "$DST/long" --status-file "$WORK/long.json" > "$WORK/long.out" 2>&1
rc=$?
set -e
cat "$WORK/long.out" | cut -c1-200
[ "$rc" = 23 ] || fail "paths past 4095 bytes: exit $rc, not 23"
for n in 4096 4220; do grep -q "path too long ($n bytes; at most 4095)" "$WORK/long.out" || fail "the $n-byte path is not named"; done
grep -q "2 of 2 targets OK" "$WORK/long.out" || fail "a target was faulted for a path the master left out"
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (s.unreadable.map((u) => u.path.length).sort().join() !== "4096,4220") process.exit(1)' \
  "$WORK/long.json" || fail "status file: not the two long paths"
for i in 1 2; do python3 "$WORK/tree.py" check "$(disk t$i)/long" || fail "t$i"; done
echo PASS
