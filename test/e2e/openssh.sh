#!/usr/bin/env bash
# Real OpenSSH as the remote shell: sshd started in two targets' namespaces,
# key-based root login, mrsync -r "ssh -i KEY ...". Also: an unknown host
# through ssh is named in the report with ssh's own error.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT
command -v sshd >/dev/null || fail "sshd not installed (apt-get install openssh-server)"

lan_up 2
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST" /run/sshd
make_tree "$SRC"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
cp "$WORK/id.pub" "$WORK/authorized_keys"
for i in 1 2; do
  host_mounts "t$i" "$DST" >/dev/null
  cat > "$WORK/sshd_config.t$i" <<CFG
ListenAddress 198.18.0.$((10 + i))
Port 22
HostKey $WORK/hostkey
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $WORK/sshd.t$i.pid
LogLevel ERROR
CFG
  nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/t$i.pid")" -n -m /usr/sbin/sshd -f "$WORK/sshd_config.t$i" -E "$WORK/sshd.t$i.log"
done
SSH="ssh -i $WORK/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR"
# wait (bounded) until both sshd answer
for i in 1 2; do
  ok=0
  for _ in $(seq 1 50); do
    if ip netns exec "${PFX}m" $SSH "198.18.0.$((10 + i))" true 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { cat "$WORK/sshd.t$i.log" >&2; fail "sshd on t$i does not answer"; }
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
echo PASS
