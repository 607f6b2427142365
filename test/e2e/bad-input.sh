#!/usr/bin/env bash
# Bad input: one clear line, a non-zero exit, never a stack trace.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

lan_up 2
SRC="$WORK/src"; DST="$WORK/dst"
mkdir -p "$SRC" "$DST"
echo data > "$SRC/file"
host_mounts t1 "$DST" >/dev/null
host_mounts t2 "$DST" >/dev/null

# expect CODE PATTERN ARGS...: exit status and a line of output
expect() {
  local want=$1 pat=$2; shift 2
  set +e
  out=$(run_master "$@" 2>&1)
  rc=$?
  set -e
  if [ "$rc" != "$want" ]; then echo "$out" >&2; fail "exit $rc, want $want for: $*"; fi
  echo "$out" | grep -Eq -- "$pat" || { echo "$out" >&2; fail "output lacks /$pat/ for: $*"; }
  if echo "$out" | grep -q '^    at '; then echo "$out" >&2; fail "stack trace for: $*"; fi
  echo "ok ($rc): $(echo "$out" | head -1)"
}

expect 1 "source $WORK/nope: no such file or directory" -m t1 -s "$WORK/nope"
mkfifo "$WORK/fifo"
expect 1 'is not a directory or a regular file' -m t1 -s "$WORK/fifo"
expect 1 '-l and --files-from need a directory as -s' -m t1 -s "$SRC/file" -l '*'
: > "$WORK/empty.list"; printf '# only a comment\n\n' > "$WORK/comments.list"
expect 1 'names no hosts' -m "$WORK/empty.list" -s "$SRC"
expect 1 'names no hosts' -m "$WORK/comments.list" -s "$SRC"
expect 1 'cannot read target list .*ENOENT' -m "$WORK/missing/targets.list" -s "$SRC"
expect 1 "required option '-s, --source" -m t1
expect 1 'unknown option' -m t1 -s "$SRC" --frobnicate
expect 1 '-P must be between 2 and 65535' -m t1 -s "$SRC" -P 0
expect 1 '--rate must be a rate' -m t1 -s "$SRC" --rate fast
expect 1 'not an IPv4 multicast group' -m t1 -s "$SRC" -A 10.1.2.3
expect 1 '-v must be between 0 and 2' -m t1 -s "$SRC" -v 7
expect 1 '--page-size must be between' -m t1 -s "$SRC" --page-size 70000
expect 1 '-I eth9: no such interface' -m t1 -s "$SRC" -I eth9
expect 1 "bad host name" -m 't1,-oProxyCommand=x' -s "$SRC"

# remote side failures name the host and show the remote shell's stderr
expect 3 '^ghost +UNREACHABLE .*exit 255.*Could not resolve hostname ghost' -m t1,ghost -s "$SRC" -t "$DST" -w 5
expect 3 '^t1 +UNREACHABLE .*remote shell failed \(exit 1\)' -m t1 -s "$SRC" -t "$DST" -r /bin/false -w 5
expect 3 '^t1 +UNREACHABLE .*cannot run remote shell /nonexistent/ssh: ENOENT' -m t1 -s "$SRC" -t "$DST" -r /nonexistent/ssh -w 5
expect 3 '^t1 +UNREACHABLE .*exit 127.*not found' -m t1 -s "$SRC" -t "$DST" --remote-path /nope/multicatcher -w 5
expect 3 'check: multicatcher was not found there' -m t1 -s "$SRC" -t "$DST" --remote-path /nope/multicatcher -w 5
# multicatcher there, node not on the PATH of the remote shell's login (a node that nvm installed in a home directory)
printf '#!/bin/sh\nPATH=/nonexistent exec /bin/sh %s "$@"\n' "$REPO/bin/multicatcher" > "$WORK/no-node-catcher"
chmod +x "$WORK/no-node-catcher"
expect 3 '^t1 +UNREACHABLE .*exit 127.*multicatcher: node \(Node.js 20 or newer\) is not on the PATH \(/nonexistent\)' -m t1 -s "$SRC" -t "$DST" --remote-path "$WORK/no-node-catcher" -w 5
expect 3 'check: multicatcher is there, node is not on the PATH the remote shell.s login gets' -m t1 -s "$SRC" -t "$DST" --remote-path "$WORK/no-node-catcher" -w 5
# a remote shell that says nothing and never starts the catcher (ssh asking for a password or a host key on
# the terminal): that target is named within -w, as the remote shell's, not as datagrams that do not get through
cat > "$WORK/prompting-rsh" <<EOS
#!/bin/sh
case "\$1" in t2) exec sleep 1$$;; esac
exec "$NSRSH" "\$@"
EOS
chmod +x "$WORK/prompting-rsh"
set +e
t0=$(date +%s)
ip netns exec "${PFX}m" timeout 60 "$MRSYNC" -r "$WORK/prompting-rsh" -m t1,t2 -s "$SRC" -t "$DST" -w 5 > "$WORK/prompt.out" 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || { cat "$WORK/prompt.out"; fail "a remote shell that never answers: exit $rc, want 3"; }
[ $(( $(date +%s) - t0 )) -le 20 ] || fail "a remote shell that never answers: the push took $(( $(date +%s) - t0 )) s with -w 5"
grep -Eq '^t2 +UNREACHABLE .*no catcher started within 5 s: the remote shell said nothing' "$WORK/prompt.out" || { cat "$WORK/prompt.out"; fail "a remote shell that never answers: not named so"; }
grep -q 'check: the remote shell waits on a prompt' "$WORK/prompt.out" || { cat "$WORK/prompt.out"; fail "a remote shell that never answers: no hint of a prompt"; }
! grep -q 'datagrams do not get through' "$WORK/prompt.out" || { cat "$WORK/prompt.out"; fail "a remote shell that never answers: blamed on datagrams"; }
grep -Eq '^t1 +OK' "$WORK/prompt.out" || { cat "$WORK/prompt.out"; fail "a remote shell that never answers: the other target did not complete"; }
# (a sleep of 1$$ s: a number no other process on the machine sleeps)
for _ in $(seq 1 40); do pgrep -xf "sleep 1$$" > /dev/null || break; sleep 0.05; done
! pgrep -axf "sleep 1$$" || fail "a remote shell that never answers: left running after the push"
echo "ok (3): a remote shell that never answers: $(grep -E "^t2 +UNREACHABLE" "$WORK/prompt.out")"

# 400 unreachable hosts: stderr and the report stay short (grouped by cause, what to check), the status file has them all
hosts=$(seq -f 'h%g' 1 400 | paste -sd,)
set +e
(ulimit -Sn 1024; run_master -m "$hosts" -s "$SRC" -t "$DST" -r /bin/false -w 5 --status-file "$WORK/many.json" > "$WORK/many.out" 2> "$WORK/many.err")
rc=$?
set -e
[ "$rc" = 3 ] || { cat "$WORK/many.err"; fail "400 unreachable hosts: exit $rc, want 3"; }
[ "$(wc -l < "$WORK/many.err")" -le 12 ] || { cat "$WORK/many.err"; fail "400 unreachable hosts: $(wc -l < "$WORK/many.err") lines on stderr"; }
[ "$(wc -l < "$WORK/many.out")" -le 60 ] || fail "400 unreachable hosts: a report of $(wc -l < "$WORK/many.out") lines"
grep -q 'the report groups them' "$WORK/many.err" || fail "400 unreachable hosts: stderr does not say the report groups them"
grep -Eq '^  400 UNREACHABLE: remote shell failed \(exit 1\)$' "$WORK/many.out" || fail "400 unreachable hosts: no group in the report"
grep -q '^      check: run the remote shell' "$WORK/many.out" || fail "400 unreachable hosts: no hint"
node -e 'const s = require(process.argv[1]); if (s.targets.length !== 400 || s.totals.unreachable !== 400) process.exit(1)' "$WORK/many.json" \
  || fail "400 unreachable hosts: the status file does not list them all"
echo "ok (3): 400 unreachable hosts: $(wc -l < "$WORK/many.err") lines on stderr, $(wc -l < "$WORK/many.out") in the report"
# the descriptors for them are not there even at the hard limit: one line before anything starts
(ulimit -n 1024; expect 1 '^mrsync: 400 targets need about 1272 open files on the master .* ulimit -n allows 1024' -m "$hosts" -s "$SRC" -t "$DST" -r /bin/false)

# the master's answer port (-P minus one) taken on the master: one line, exit 1, and the
# remote shells it started end (the loop's failed start once crashed the master here)
ip netns exec "${PFX}m" python3 -c 'import socket, sys, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 8887)); print("bound", flush=True); time.sleep(60)' > "$WORK/holder.out" &
holder=$!
for _ in $(seq 1 100); do grep -q bound "$WORK/holder.out" 2>/dev/null && break; sleep 0.05; done
expect 1 '^mrsync: cannot bind UDP port 8887: Address already in use: .* another port with -P' -m t1,t2 -s "$SRC" -t "$DST" -w 5
kill "$holder"; wait "$holder" 2>/dev/null || true
for _ in $(seq 1 40); do pgrep -f 'nsrsh t[12] |dist/bundle/multicatcher' > /dev/null || break; sleep 0.05; done
! pgrep -af 'nsrsh t[12] |dist/bundle/multicatcher' || fail "remote shells or catchers left after the master's failed start"

# two pushes at once from one master on the same ports: the second ends at once (exit 1)
# where both bound the answer port and the first one's answers went to the second
# (7.8 s for a 3.5 s push; longer than -w, its targets dropped); the first completes
mkdir -p "$WORK/srcA" && head -c 10000000 /dev/urandom > "$WORK/srcA/big"
run_master -m t1 -s "$WORK/srcA" -t "$DST" -w 20 --rate 20m > "$WORK/first.out" 2>&1 & first=$!
for _ in $(seq 1 100); do ip netns exec "${PFX}m" ss -uan | grep -q ':8887 ' && break; sleep 0.05; done
expect 1 '^mrsync: cannot bind UDP port 8887: Address already in use: another push' -m t2 -s "$SRC" -t "$DST" -w 5
wait "$first" || { cat "$WORK/first.out"; fail "the first of two pushes at once: exit $?"; }
cmp "$WORK/srcA/big" "$(disk t1)/big" || fail "the first of two pushes at once: the copy differs"
echo "ok (0): the first of two pushes at once: $(grep '^total:' "$WORK/first.out")"
rm -rf "$WORK/srcA"; in_t 1 rm -f "$DST/big"

# a read-only target directory: that target fails with the reason, the other completes
nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/t1.pid")" -m mount -o remount,bind,ro "$DST"
expect 2 '^t1 +FAILED .*not writable: EROFS' -m t1,t2 -s "$SRC" -t "$DST" -w 5
verify "$SRC" "$(disk t2)"
echo PASS
