#!/usr/bin/env bash
# A push interrupted: SIGTERM from a supervisor, then Ctrl-C on a terminal.
# mrsync stops the catchers (their temp files removed, nothing partial at a
# final name, no --delete on a target that had not finished), prints what was
# done, writes the status file as interrupted, gives the terminal back with
# its cursor and line wrap, and exits 20 (rsync's code for SIGINT).
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || fail "tmux not installed"
TSOCK="$WORK/tmux.sock"
cleanup() { tmux -S "$TSOCK" kill-server 2>/dev/null || true; lan_down; }
trap cleanup EXIT

catchers() {
  local n=0 i
  for i in 1 2; do n=$((n + $(ip netns pids "${PFX}t$i" | xargs -r ps -o args= -p | grep -c multicatcher || true))); done
  echo "$n"
}
no_catchers_no_temps() {
  local _ i
  for _ in $(seq 1 100); do [ "$(catchers)" = 0 ] && break; sleep 0.1; done
  [ "$(catchers)" = 0 ] || fail "$1: $(catchers) catchers still running"
  for i in 1 2; do ls -a "$(disk t$i)" | grep -q '\.mrsync\.' && fail "$1: temp file left on t$i"; done
  return 0
}

targets_up 2
head -c 30000000 /dev/urandom > "$SRC/data.bin"
echo "old" > "$(disk t1)/data.bin"
echo "extra" > "$(disk t1)/extra"

# 1. SIGTERM, no terminal, --delete and a status file
ip netns exec "${PFX}m" "$MRSYNC" -r "$NSRSH" -m t1,t2 -s "$SRC" -t "$DST" --rate 20m --delete \
  --status-file "$WORK/status.json" > "$WORK/out" 2>&1 &
pid=$!
await_temp t2 data.bin
sleep 0.3
start=$(date +%s%N)
kill -TERM $pid
set +e
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "mrsync still running 10 s after SIGTERM"; }
wait $pid; rc=$?
set -e
cat "$WORK/out"
echo "stopped in $(( ($(date +%s%N) - start) / 1000000 )) ms"
[ "$rc" = 20 ] || fail "SIGTERM: exit $rc, not 20"
grep -q "interrupted by SIGTERM: 2 targets had not finished" "$WORK/out" || fail "SIGTERM: no report of the interruption"
grep -qE "^t1 +INTERRUPTED" "$WORK/out" || fail "SIGTERM: t1 not shown interrupted"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const bad = s.exitCode !== 20 || s.interrupted !== "SIGTERM" || s.targets.some((t) => t.state !== "INTERRUPTED" || t.errorCode !== "INTERRUPTED");
  if (bad) { console.error(JSON.stringify(s, null, 1)); process.exit(1); }
' "$WORK/status.json" || fail "SIGTERM: the status file does not say interrupted"
no_catchers_no_temps SIGTERM
[ "$(cat "$(disk t1)/data.bin")" = old ] || fail "SIGTERM: t1's old file was replaced by a partial one"
[ ! -e "$(disk t2)/data.bin" ] || fail "SIGTERM: t2 has a partial file at the final name"
[ -e "$(disk t1)/extra" ] || fail "SIGTERM: --delete ran on a target that had not finished"

# 2. Ctrl-C on a terminal, the progress bar showing (the catchers' remote shells get the SIGINT too)
cat > "$WORK/push.sh" <<RUN
#!/usr/bin/env bash
export MRSYNC_TEST_HOSTS='$MRSYNC_TEST_HOSTS' XDG_CACHE_HOME='$XDG_CACHE_HOME'
ip netns exec '${PFX}m' '$MRSYNC' -r '$NSRSH' -m t1,t2 -s '$SRC' -t '$DST' --rate 20m --status-file '$WORK/tty.json'
echo "EXIT=\$?"
sleep 60
RUN
chmod +x "$WORK/push.sh"
tmux -S "$TSOCK" new-session -d -x 200 -y 50 "$WORK/push.sh"
await_temp t2 data.bin
for _ in $(seq 1 40); do tmux -S "$TSOCK" capture-pane -p | grep -q 'sending: ' && break; sleep 0.1; done
[ "$(tmux -S "$TSOCK" display -p '#{cursor_flag}')" = 0 ] || fail "the progress bar does not hide the cursor (the check below would prove nothing)"
tmux -S "$TSOCK" send-keys C-c
for _ in $(seq 1 100); do screen=$(tmux -S "$TSOCK" capture-pane -p); echo "$screen" | grep -q '^EXIT=' && break; sleep 0.1; done
echo "$screen" | grep -v '^$'
echo "$screen" | grep -q '^EXIT=20' || fail "Ctrl-C: not exit 20"
echo "$screen" | grep -q 'interrupted by SIGINT: 2 targets had not finished' || fail "Ctrl-C: no report of the interruption"
flags=$(tmux -S "$TSOCK" display -p '#{cursor_flag} #{wrap_flag}')
[ "$flags" = "1 1" ] || fail "Ctrl-C: the terminal was left with cursor/wrap flags '$flags' (want '1 1')"
grep -q '"interrupted": "SIGINT"' "$WORK/tty.json" || fail "Ctrl-C: the status file does not say interrupted"
no_catchers_no_temps Ctrl-C
[ "$(cat "$(disk t1)/data.bin")" = old ] || fail "Ctrl-C: t1's old file was replaced by a partial one"
echo PASS
