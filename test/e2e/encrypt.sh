#!/usr/bin/env bash
# --encrypt: every copy exact (with 1% loss), and a listener on the LAN sees
# the file contents and names in clear without it, never with it.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

targets_up 2
add_host x 198.18.0.99 fd00:198:18::99
make_tree "$SRC"
MARK="CONFIDENTIAL-MARKER-$$"
for i in $(seq 1 50); do printf '%s %d\n' "$MARK" "$i"; done > "$SRC/secret.txt"
for i in 1 2; do loss "t$i" 10; done

push() {
  ip netns exec "${PFX}x" timeout 60 node "$E2E_DIR/sniff.js" 239.255.67.92 8888 198.18.0.1 6 "$MARK" > "$WORK/sniff.$1" &
  local sp=$!
  sleep 0.5
  run_master -m t1,t2 -s "$SRC" -t "$DST" --rate 100m -w 20 "${@:2}" > "$WORK/out.$1" 2>&1 || { rc=$?; cat "$WORK/out.$1"; fail "$1 push exit $rc"; }
  wait $sp
  cat "$WORK/sniff.$1"
  for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
}
push plain
grep -q ', [1-9][0-9]* with the marker' "$WORK/sniff.plain" || fail "the listener did not see the plain contents (the check is blind)"
for i in 1 2; do find "$(disk t$i)" -mindepth 1 -delete; done
push sealed --encrypt
grep -Eq '^sniff: [1-9][0-9]* datagrams, 0 with the marker' "$WORK/sniff.sealed" || fail "contents visible on the wire with --encrypt"
grep -q '2 of 2 targets OK' "$WORK/out.sealed" || fail "not all OK with --encrypt"
echo PASS
