#!/usr/bin/env bash
# Daemon mode: three targets run `multicatcher --daemon` (started with the
# ExecStart line of systemd/multicatcher.service); the master pushes with
# --daemon --key-file, no remote shell. Then what must be refused: a master
# with another key (nothing written, the daemon logs it), key files with loose
# permissions (both ends), a target path outside the root (the master refuses
# it; a hostile master that sends one anyway is refused by the daemon), and a
# symlink in the daemon's root pointing out of it; and a session's catcher killed mid-push,
# which the report names as killed (the daemon says how its catcher ended), and one stopped, which
# the daemon ends once its connection is gone; and the master's machine gone mid-push (no FIN), which
# the daemon finds by TCP keepalive, its session freed.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 3
SRC="$WORK/src"; OUTSIDE="$WORK/outside"
mkdir -p "$SRC" "$OUTSIDE"
make_tree "$SRC"
KEY="$WORK/key"; OTHER="$WORK/other-key"
"$REPO/bin/multicatcher" --new-key "$KEY" > /dev/null
"$REPO/bin/multicatcher" --new-key "$OTHER" > /dev/null
[ "$(stat -c %a "$KEY")" = 600 ] || fail "--new-key did not make a 0600 file"
again=$("$REPO/bin/multicatcher" --new-key "$KEY" 2>&1 || true)
[[ $again == *'exists (not overwritten)'* ]] || fail "--new-key overwrote a key"

# the unit file's command line, with this machine's paths
unit_cmd() {
  sed -n 's/^ExecStart=//p' "$REPO/systemd/multicatcher.service" |
    sed "s#/opt/mrsync#$REPO#; s#/srv/mrsync#$1#; s#/etc/mrsync/key#$KEY#"
}
DAEMONS=()
# (keepalive probes after 2 s idle, not 60 s: step 8's dead master is found in seconds)
export MRSYNC_TEST_KEEPALIVE_MS=2000
for i in 1 2 3; do
  mkdir -p "$(disk t$i)"
  # shellcheck disable=SC2046
  ip netns exec "${PFX}t$i" $(unit_cmd "$(disk t$i)") 2> "$WORK/daemon-t$i.log" &
  DAEMONS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do ip netns exec "${PFX}t$i" ss -ltn | grep -q ':8731 ' && break; sleep 0.05; done
  ip netns exec "${PFX}t$i" ss -ltn | grep -q ':8731 ' || { cat "$WORK/daemon-t$i.log"; fail "daemon on t$i is not listening"; }
done
HOSTS=198.18.0.11,198.18.0.12,198.18.0.13
loss t2 10

# (no -r: a remote shell is refused with --daemon)
push() {
  local out=$1
  shift
  set +e
  ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -m "$HOSTS" -s "$SRC" --daemon -w 10 --rate 200m "$@" > "$out" 2>&1
  RC=$?
  set -e
}

# 1. the push, with 1% loss at t2
push "$WORK/out1" --key-file "$KEY" -t data
cat "$WORK/out1"
[ "$RC" = 0 ] || fail "daemon push exit $RC"
for i in 1 2 3; do verify "$SRC" "$(disk t$i)/data"; done
grep -q 'session .* from 198.18.0.1: into' "$WORK/daemon-t1.log" || fail "the daemon did not log the session"
# each daemon had a catcher started ahead of the session (its spare), so the push did not wait for one
for i in 1 2 3; do ! grep -q 'no spare catcher' "$WORK/daemon-t$i.log" || fail "t$i: the session started a cold catcher"; done

# 2. a master with another key: refused at the handshake, nothing written
push "$WORK/out2" --key-file "$OTHER" -t intruder
cat "$WORK/out2"
[ "$RC" = 3 ] || fail "wrong key: exit $RC, want 3"
grep -q 'TLS handshake failed' "$WORK/out2" || fail "wrong key: the report does not say why"
for i in 1 2 3; do [ ! -e "$(disk t$i)/intruder" ] || fail "wrong key: t$i got files"; done
grep -q 'refused a connection from 198.18.0.1' "$WORK/daemon-t1.log" || fail "the daemon did not log the refusal"

# 3. loose key permissions are refused on both ends
cp "$KEY" "$WORK/loose"; chmod 644 "$WORK/loose"
push "$WORK/out3" --key-file "$WORK/loose" -t data
[ "$RC" = 1 ] && grep -q 'accessible by group or others (mode 0644); refused' "$WORK/out3" || { cat "$WORK/out3"; fail "master accepted a 0644 key"; }
set +e
ip netns exec "${PFX}t1" "$REPO/bin/multicatcher" --daemon --root "$(disk t1)" --key-file "$WORK/loose" --port 8732 > "$WORK/out3b" 2>&1
rc=$?
set -e
[ $rc = 1 ] && grep -q 'accessible by group or others' "$WORK/out3b" || { cat "$WORK/out3b"; fail "daemon accepted a 0644 key (exit $rc)"; }

# 4. a target path outside the root: the master refuses it ...
push "$WORK/out4" --key-file "$KEY" -t ../escape
[ "$RC" = 1 ] && grep -q "inside each daemon's root" "$WORK/out4" || { cat "$WORK/out4"; fail "master accepted -t ../escape"; }
# ... and a hostile master holding the key that sends one anyway is refused by the daemon
hostile() { # a header as JSON (node expression) -> what the daemon answered
  ip netns exec "${PFX}m" node -e '
const tls = require("tls");
const { PSK_TLS, readKeyFile } = require(process.argv[1] + "/dist/src/channel/keyfile.js");
const psk = readKeyFile(process.argv[2]);
const header = eval("(" + process.argv[3] + ")");
const s = tls.connect({ host: "198.18.0.11", port: 8731, ...PSK_TLS, checkServerIdentity: () => undefined,
  pskCallback: () => ({ psk, identity: PSK_TLS.identity }) }, () => { s.write(JSON.stringify(header) + "\n"); });
let out = ""; s.setEncoding("utf8"); s.on("data", (d) => { out += d; });
s.on("close", () => { process.stdout.write(out); });
setTimeout(() => s.destroy(), 5000);
' "$REPO" "$KEY" "$1"
}
hostile '{ v: 4, dst: Buffer.from("../../outside").toString("base64"), confine: "Lw==" }' > "$WORK/out4b"
cat "$WORK/out4b"
grep -q "not a path inside the daemon's root" "$WORK/out4b" || fail "the daemon did not refuse ../../outside"
# backups moved outside the root (--delete -b --backup-dir /outside): refused before anything is touched
hostile '{ v: 4, dst: Buffer.from("data").toString("base64"), sync: { delete: true, checksum: false, dryRun: false, filters: [], backup: { suffix: "", dir: "'"$OUTSIDE"'" } } }' > "$WORK/out4c"
cat "$WORK/out4c"
grep -q "backup directory $OUTSIDE is not a path inside the daemon's root (absolute)" "$WORK/out4c" || fail "the daemon did not refuse --backup-dir $OUTSIDE"
[ -z "$(ls -A "$OUTSIDE")" ] || fail "a hostile master's backup directory was made outside the root"

# after its sessions each daemon holds one spare catcher again (and only one), the next session's
one_spare() {
  local p
  for p in "${DAEMONS[@]}"; do
    for _ in $(seq 1 100); do [ "$(pgrep -c -P "$p")" = 1 ] && break; sleep 0.05; done
    [ "$(pgrep -c -P "$p")" = 1 ] || { pgrep -a -P "$p"; fail "daemon $p: not one spare catcher after its sessions"; }
    # compiled as it loads, before its session (a push's first calls into it are not compiled on its clock)
    pgrep -a -P "$p" | grep -q -- ' --no-lazy ' || { pgrep -a -P "$p"; fail "daemon $p: the spare catcher was not started with --no-lazy"; }
  done
}
one_spare

# 5. a symlink in a daemon's root that points out of it: nothing written through it
ln -s "$OUTSIDE" "$(disk t3)/evil"
push "$WORK/out5" --key-file "$KEY" -t evil/deeper
cat "$WORK/out5"
[ "$RC" = 2 ] || fail "symlinked target: exit $RC, want 2"
grep -Eq '^198.18.0.13 +FAILED .*symlink or a path leaving the target tree' "$WORK/out5" || fail "symlinked target: t3 not failed with the reason"
[ -z "$(ls -A "$OUTSIDE")" ] || fail "wrote through a symlink in the daemon's root"
verify "$SRC" "$(disk t1)/evil/deeper"

one_spare

# session_catcher I DIR STEP: once target tI's temp file of zbig.bin under DIR is there, the one
# catcher its daemon runs for the session (a push under way), or fail
session_catcher() {
  local _ pid
  for _ in $(seq 1 200); do ls -a "$(disk "t$1")/$2" 2>/dev/null | grep -q '^\.zbig\.bin\.mrsync\.' && break; sleep 0.05; done
  pid=$(pgrep -P "${DAEMONS[$(($1 - 1))]}")
  [ "$(echo "$pid" | wc -w)" = 1 ] || fail "$3t$1's daemon: not one session catcher ($pid)"
  echo "$pid"
}

# 6. a session's catcher killed mid-push (kill -9, as the OOM killer would): the report says how it
# ended (the daemon tells the master before it closes the connection), not "exit 0"
mkdir -p "$WORK/bigsrc"; head -c 8000000 /dev/urandom > "$WORK/bigsrc/zbig.bin"
set +e
ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -m "$HOSTS" -s "$WORK/bigsrc" --daemon -w 10 --rate 20m --key-file "$KEY" -t killed > "$WORK/out6" 2>&1 &
pid=$!
session=$(session_catcher 2 killed "") || exit 1
kill -9 "$session"
wait $pid
RC=$?
set -e
cat "$WORK/out6"
[ "$RC" = 3 ] || fail "a killed session: exit $RC, want 3"
grep -Eq '^198.18.0.12 +DROPPED .*catcher exited early \(killed by SIGKILL\)' "$WORK/out6" || fail "the report does not say t2's catcher was killed"
for i in 1 3; do verify "$WORK/bigsrc" "$(disk t$i)/killed"; done

# 7. a session's catcher stopped mid-push (SIGSTOP): the master drops it after -w and ends; the daemon,
# its connection gone, ends the catcher (SIGKILL after SIGTERM) rather than hold its session for ever
one_spare
set +e
ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -m "$HOSTS" -s "$WORK/bigsrc" --daemon -w 3 --rate 20m --key-file "$KEY" -t stopped > "$WORK/out7" 2>&1 &
pid=$!
session=$(session_catcher 2 stopped "7. ") || exit 1
kill -STOP "$session"
wait $pid
RC=$?
set -e
cat "$WORK/out7"
[ "$RC" = 3 ] || fail "7. a stopped session: exit $RC, want 3"
grep -Eq '^198.18.0.12 +DROPPED .*silent for 3 s after it had answered' "$WORK/out7" || fail "7. t2 not dropped as silent"
for _ in $(seq 1 300); do kill -0 "$session" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$session" 2>/dev/null || { kill -KILL "$session"; fail "7. the daemon left its stopped catcher running 30 s after the push"; }
grep -q "session .* ended (SIGKILL)" "$WORK/daemon-t2.log" || fail "7. the daemon did not log its stopped catcher's end"

# 8. the master's machine gone mid-push (cut off from t1, then killed: no FIN, no RST reaches t1): t1's
# daemon finds the connection dead (TCP keepalive), its catcher ends and removes its temp file, and the
# session it held is free again (--max-sessions)
one_spare
set +e
ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -m 198.18.0.11 -s "$WORK/bigsrc" --daemon -w 60 --rate 5m --key-file "$KEY" -t cut > "$WORK/out8" 2>&1 &
pid=$!
session=$(session_catcher 1 cut "8. ") || exit 1
ip netns exec "${PFX}t1" nft add table inet gone
ip netns exec "${PFX}t1" nft add chain inet gone in '{ type filter hook input priority 0; }'
ip netns exec "${PFX}t1" nft add chain inet gone out '{ type filter hook output priority 0; }'
ip netns exec "${PFX}t1" nft add rule inet gone in ip saddr 198.18.0.1 drop
ip netns exec "${PFX}t1" nft add rule inet gone out ip daddr 198.18.0.1 drop
kill -KILL $(node_pids m mrsync)
wait $pid
set -e
s=$(date +%s)
for _ in $(seq 1 400); do kill -0 "$session" 2>/dev/null || break; sleep 0.1; done
took=$(($(date +%s) - s))
ip netns exec "${PFX}t1" nft delete table inet gone
! kill -0 "$session" 2>/dev/null || { kill -KILL "$session"; fail "8. t1's catcher still waits on a dead master 40 s on"; }
echo "8. t1's daemon ended the session of a dead master after $took s"
! ls -a "$(disk t1)/cut" | grep -q '\.mrsync\.' || fail "8. the session of a dead master left its temp file"
grep -q "session .* from 198.18.0.1: ended" "$WORK/daemon-t1.log" || fail "8. t1's daemon did not log the session's end"

one_spare
SPARES=$(for p in "${DAEMONS[@]}"; do pgrep -P "$p"; done)
! grep -q 'no spare catcher' "$WORK/daemon-t1.log" || fail "t1: a later session started a cold catcher"

# SIGTERM stops a daemon cleanly
for p in "${DAEMONS[@]}"; do kill -TERM "$p"; done
for p in "${DAEMONS[@]}"; do wait "$p" || fail "a daemon exited $? on SIGTERM"; done
grep -q 'SIGTERM: stopping' "$WORK/daemon-t1.log" || fail "the daemon did not log its stop"
for c in $SPARES; do ! kill -0 "$c" 2>/dev/null || fail "spare catcher $c outlived its daemon"; done
echo PASS
