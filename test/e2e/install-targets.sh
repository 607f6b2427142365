#!/usr/bin/env bash
# mrsync --install over real OpenSSH: sshd in three targets' namespaces,
# each with its own (empty) directory where the package lives here (a copy of
# this build at $WORK/opt/mrsync: the targets' $WORK/opt are theirs). The
# install puts the package there on the two with Node.js 20+, names the one
# whose node is too old and a host ssh cannot reach, and a push through ssh
# then runs the installed catchers (the default --remote-path). Run again it
# changes nothing; a target with another version is brought up to date.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 3
PKG="$WORK/opt/mrsync"
mkdir -p "$PKG/dist" "$PKG/build/Release"
cp -a "$REPO/bin" "$REPO/package.json" "$REPO/binding.gyp" "$REPO/native" "$REPO/node_modules" "$PKG/"
cp -a "$REPO/dist/bundle" "$PKG/dist/"
cp -a "$REPO/build/Release/mrsync_native.node" "$PKG/build/Release/"
MRSYNC="$PKG/bin/mrsync"
SRC="$WORK/src"
mkdir -p "$SRC" "$WORK/oldnode"
make_tree "$SRC"
printf '#!/bin/sh\necho v18.19.0\n' > "$WORK/oldnode/node"; chmod +x "$WORK/oldnode/node"
ssh_keys
for i in 1 2 3; do
  host_mounts "t$i" "$WORK/opt" >/dev/null   # the target's own directory where the package is here
  # t3's node is too old: sshd gives its sessions a PATH where node says v18
  ssh_up "$i" "$([ $i = 3 ] && echo "SetEnv PATH=$WORK/oldnode:/usr/bin:/bin")"
done
[ -z "$(ls -A "$(disk t1)")" ] || fail "t1 does not start empty"

install() {
  set +e
  ip netns exec "${PFX}m" timeout 200 "$MRSYNC" --install -r "$SSH" -w 60 "$@" > "$WORK/out" 2>&1
  RC=$?
  set -e
  cat "$WORK/out"
}
VER=$("$MRSYNC" --version)
install -m 198.18.0.11,198.18.0.12,198.18.0.13,no-such-host.invalid --fan-out 2
[ "$RC" = 3 ] || fail "first install: exit $RC, want 3 (a host unreachable)"
grep -q "^mrsync $VER at $PKG: 2 installed, 0 up to date, 1 failed, 1 unreachable (of 4)$" "$WORK/out" || fail "first install: summary"
grep -q '^198.18.0.13: failed: Node.js 20 or newer needed there (found: v18.19.0)$' "$WORK/out" || fail "the old node not named"
grep -Eq '^no-such-host.invalid: unreachable: remote shell failed \(exit 255\)' "$WORK/out" || fail "the unreachable host not named"
grep -q 'check: the remote shell could not log in' "$WORK/out" || fail "no hint for the unreachable host"
for i in 1 2; do
  d=$(disk t$i)/mrsync
  for f in bin/multicatcher dist/bundle/multicatcher.js node_modules/pino/package.json package.json; do
    [ -e "$d/$f" ] || fail "t$i lacks $f"
  done
  for f in test src dist/src node_modules/typescript node_modules/fast-check node_modules/esbuild bench; do
    [ ! -e "$d/$f" ] || fail "t$i got $f (development only)"
  done
  ls -a "$(disk t$i)" | grep -q 'mrsync-new\|mrsync-old' && fail "t$i: a work directory left beside the package"
done
[ -z "$(ls -A "$(disk t3)")" ] || fail "t3 (node too old) got files"

# a push through ssh runs the catchers just installed (the default --remote-path: this package's path)
ip netns exec "${PFX}m" timeout 200 "$MRSYNC" -r "$SSH" -m 198.18.0.11,198.18.0.12 -s "$SRC" -t "$WORK/opt/pushed" -w 30 > "$WORK/push" 2>&1 \
  || { cat "$WORK/push"; fail "a push with the installed catchers failed"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)/pushed"; done

# again: nothing to do; then t2 holds another version: only it is installed anew
install -m 198.18.0.11,198.18.0.12
[ "$RC" = 0 ] || fail "second install: exit $RC"
grep -q ': 0 installed, 2 up to date, 0 failed, 0 unreachable (of 2)$' "$WORK/out" || fail "second install is not a no-op"
sed -i 's/"version": "[^"]*"/"version": "0.1.0"/' "$(disk t2)/mrsync/package.json"
touch "$(disk t2)/mrsync/stale-file"
install -m 198.18.0.11,198.18.0.12
[ "$RC" = 0 ] || fail "third install: exit $RC"
grep -q "^198.18.0.12: installed $VER (had 0.1.0 (protocol 6))$" "$WORK/out" || fail "t2 not brought up to date"
grep -q ': 1 installed, 1 up to date, 0 failed, 0 unreachable (of 2)$' "$WORK/out" || fail "third install: summary"
[ ! -e "$(disk t2)/mrsync/stale-file" ] || fail "t2's old package directory was not replaced whole"
echo PASS
