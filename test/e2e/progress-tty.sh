#!/usr/bin/env bash
# A terminal user sees the live progress line update during a push: mrsync
# runs in a tmux pane, capture-pane reads the screen while it sends.
source "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || fail "tmux not installed"
TSOCK="$WORK/tmux.sock"
cleanup() { tmux -S "$TSOCK" kill-server 2>/dev/null || true; lan_down; }
trap cleanup EXIT

targets_up 2
head -c 15000000 /dev/urandom > "$SRC/image.bin"
cat > "$WORK/push.sh" <<RUN
#!/bin/sh
export MRSYNC_TEST_HOSTS='$MRSYNC_TEST_HOSTS'
ip netns exec '${PFX}m' '$MRSYNC' -r '$NSRSH' -m t1,t2 -s '$SRC' -t '$DST' --rate 30m
echo "EXIT=\$?"
sleep 30
RUN
chmod +x "$WORK/push.sh"
tmux -S "$TSOCK" new-session -d -x 200 -y 50 "$WORK/push.sh"
seen=()
for _ in $(seq 1 80); do
  screen=$(tmux -S "$TSOCK" capture-pane -p)
  line=$(echo "$screen" | grep -E 'sending: .* of .*targets' | tail -1 || true)
  if [ -n "$line" ] && { [ ${#seen[@]} = 0 ] || [ "$line" != "${seen[-1]}" ]; }; then seen+=("$line"); fi
  echo "$screen" | grep -q '^EXIT=' && break
  sleep 0.25
done
printf 'progress lines seen:\n'; printf '  %s\n' "${seen[@]:-}"
[ ${#seen[@]} -ge 3 ] || fail "the progress line did not update on the terminal (${#seen[@]} distinct states)"
echo "$screen" | grep -q '^EXIT=0' || { echo "$screen"; fail "push did not succeed"; }
echo "$screen" | grep -q '2 of 2 targets OK' || fail "no report on the terminal"
# the bar is cleared when the push ends: no stale progress line above the report
echo "$screen" | grep -q 'sending: ' && fail "progress line left on screen after the push"
echo PASS
