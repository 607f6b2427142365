#!/usr/bin/env bash
# Real OpenSSH as the remote shell: sshd started in two targets' namespaces,
# key-based root login, mrsync -r "ssh -i KEY ...". Also: an unknown host
# through ssh is named in the report with ssh's own error. With the master's
# answer port closed, the answers come back over ssh.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 2
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST"
make_tree "$SRC"
ssh_keys
for i in 1 2; do
  host_mounts "t$i" "$DST" >/dev/null
  ssh_up "$i"
done

ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -r "$SSH" -m 198.18.0.11,198.18.0.12 -s "$SRC" -t "$DST" --rate 300m -w 20 > "$WORK/out" 2>&1 || { rc=$?; cat "$WORK/out"; fail "exit $rc"; }
cat "$WORK/out"
grep -q '2 of 2 targets OK' "$WORK/out" || fail "not all OK"
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done

# one real target and one that ssh cannot reach: exit 3, the bad one named with ssh's message
set +e
ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -r "$SSH" -m 198.18.0.11,no-such-host.invalid -s "$SRC" -t "$DST" -w 10 > "$WORK/out2" 2>&1
rc=$?
set -e
cat "$WORK/out2"
[ $rc = 3 ] || fail "exit $rc, want 3 for an unreachable target"
grep -Eq '^no-such-host.invalid +UNREACHABLE .*remote shell failed \(exit 255\).*(resolve|Name)' "$WORK/out2" || fail "unreachable host not named with ssh's error"
grep -Eq '^198.18.0.11 +OK' "$WORK/out2" || fail "the good target did not complete"

# the master's answer port closed (its firewall): the answers come back over ssh, and the push completes
port_closed m 8887
for i in 1 2; do rm -rf "$(disk t$i)"/*; done
ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -r "$SSH" -m 198.18.0.11,198.18.0.12 -s "$SRC" -t "$DST" -w 20 > "$WORK/out3" 2>&1 || { rc=$?; cat "$WORK/out3"; fail "the master's port closed: exit $rc"; }
grep -q "of the packets came over the channels of 2 targets" "$WORK/out3" || { cat "$WORK/out3"; fail "the master's port closed: the answers did not come over ssh"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
echo "ok: the master's answer port closed: the answers came over ssh, both exact"
echo PASS
