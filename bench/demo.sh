#!/usr/bin/env bash
# The quick-start demo: builds a small tree, starts three simulated hosts on
# this machine (network namespaces on 198.18.0.0/15, each with its own view
# of the destination directory), pushes the tree to all three with mrsync
# over multicast with its defaults (1% packet loss at every host where
# nftables is installed), verifies each copy, and removes everything again.
# Needs root (namespaces) and what a fresh Debian machine has (iproute2,
# util-linux, coreutils); sends nothing off this machine.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "demo: needs root to create network namespaces (try: sudo npm run demo)" >&2
  exit 1
fi
for t in ip nsenter unshare; do command -v $t >/dev/null || { echo "demo: needs $t (iproute2, util-linux)" >&2; exit 1; }; done
source "$(dirname "$0")/../test/e2e/lib.sh"
trap lan_down EXIT

echo "demo: simulated LAN with a master and 3 targets (t1 t2 t3) in $WORK"
lan_up 3
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC/docs" "$SRC/bin" "$DST"
head -c 20000000 /dev/urandom > "$SRC/image.bin"
for i in $(seq 1 200); do head -c $((RANDOM * 3)) /dev/urandom > "$SRC/docs/file-$i.dat"; done
echo '#!/bin/sh' > "$SRC/bin/tool"; chmod 755 "$SRC/bin/tool"
ln -s bin/tool "$SRC/tool-link"
for i in 1 2 3; do host_mounts "t$i" "$DST" >/dev/null; done
# t2 already has half of the tree, t3 has all of it but stale
cp -a "$SRC/docs" "$(disk t2)/"
cp -a "$SRC/." "$(disk t3)/"; echo stale > "$(disk t3)/image.bin"
if command -v nft >/dev/null; then
  for i in 1 2 3; do loss "t$i" 10; done
  echo "demo: 1% random loss injected at every target (nftables)"
fi
echo "demo: mrsync -m t1,t2,t3 -s $SRC -t $DST"
echo
run_master -m t1,t2,t3 -s "$SRC" -t "$DST"
echo
if command -v rsync >/dev/null; then
  for i in 1 2 3; do verify "$SRC" "$(disk t$i)" && echo "demo: t$i verified identical with rsync --checksum"; done
else
  for i in 1 2 3; do diff -r "$SRC" "$(disk t$i)" >/dev/null && echo "demo: t$i verified identical with diff -r"; done
fi
