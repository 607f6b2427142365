#!/usr/bin/env bash
# Chaos: pushes under random conditions, looking for the two worst outcomes
# of a fleet tool: a push that hangs, and a copy that is wrong. N targets
# (default 8); before each push every target's destination is, at random,
# emptied, left as the last push left it, a copy of the source with files
# removed and changed and junk added, or one with directories turned into
# files and files into directories; each port gets a random rate (mostly
# 100 Mbit/s, one in six 10-40) and random loss (mostly under 2%, one in
# five up to 15%); --delete, --checksum and --encrypt at random; one push in four
# kills one catcher (kill -9) a moment in. A fresh random tree (small files
# next to big ones, empty files, symlinks, hardlinks) every fourth push.
# Flags: a push that runs into its 150 s bound (hung), a target reported OK
# whose copy differs from the source (rsync -aHn --checksum, with --delete
# when the push had it), a target the status file does not name, a target
# dropped (silent past -w) whose catcher was not the one killed, and a file
# reported undelivered without a cause (NOT_DELIVERED) or an internal error.
# A file refused for a cause the scenario made (a directory in the way
# without --delete) or a killed target dropped is what it should be.
#
#   bash bench/chaos.sh [PUSHES] [SEED]        (default 20 1; N=8 targets)
#   V6=1 bash bench/chaos.sh ...                (an IPv6 group: -A ff15::4d:5253 -I eth0)
#   DAEMON=1 bash bench/chaos.sh ...            (to standing `multicatcher --daemon`s: mrsync --daemon;
#                                                the catcher killed is a session's, not the daemon)
#   LIVE=1 bash bench/chaos.sh ...              (a live source: see below)
#   MESS=1 bash bench/chaos.sh ...              (a LAN that reorders and duplicates datagrams, pages
#                                                and feedback alike: see mess below)
#   CLOSED=1 bash bench/chaos.sh ...            (one push in three with the master's answer port closed,
#                                                as by its firewall: the answers come over the channels)
# With LIVE=1 the source has a live/ directory that changes while each push
# runs: its files rewritten (truncated, then written anew), appended to,
# truncated, deleted, made, renamed over one another, hardlinked, turned into
# directories. Every version of a file there is one 16-byte tag (a number
# and a newline) repeated, so a copy mixing two versions shows. Flags then: a
# push that hangs; a torn file under live/ at any target (two tags, or bytes
# of none); a target reported OK whose copy of the rest of the tree differs;
# and a quiet push after it (the same targets and loss, --delete, nothing
# changing or killed) that does not end OK with every copy exact, live/
# included. Which operations run is drawn from the seed; when, is not.
# Each flagged push's output is kept in bench/failed/ (every push's in
# KEEP_OUT=DIR if given).
set -euo pipefail
PUSHES=${1:-20}; SEED=${2:-1}; N=${N:-8}
source "$(dirname "$0")/../test/e2e/lib.sh"
trap lan_down EXIT
set +e
RANDOM=$SEED
lan_up "$N"
DST="$WORK/dst"; SRC="$WORK/src"; mkdir -p "$DST" "$SRC"
shape "${PFX}m" eth0 200
for i in $(seq 1 "$N"); do bench_target "t$i" "$DST" size=512m 100; loss "t$i" 0; done
if [ "${DAEMON:-0}" = 1 ]; then
  KEY="$WORK/chaos.key"
  "$REPO/bin/multicatcher" --new-key "$KEY" > /dev/null
  for i in $(seq 1 "$N"); do in_t "$i" "$(dirname "$MRSYNC")/multicatcher" --daemon --root "$DST" --key-file "$KEY" 2>> "$WORK/daemon-t$i.log" & done
  for i in $(seq 1 "$N"); do
    for _ in $(seq 1 200); do ip netns exec "${PFX}t$i" ss -ltn | grep -q ':8731 ' && break; sleep 0.05; done
  done
  push=(--daemon --key-file "$KEY" -m "$(for i in $(seq 1 "$N"); do cat "$MRSYNC_TEST_HOSTS/t$i.addr"; done | paste -sd,)" -t .)
else
  push=(-r "$NSRSH" -m "$(seq -s, -f 't%g' 1 "$N")" -t "$DST")
fi
tree() {
  local n=$((RANDOM % 300 + 20)) # (not inside $(...): RANDOM there is a subshell's)
  mixed_tree "$SRC" "$n"
  if [ $((RANDOM % 3)) = 0 ]; then head -c $((RANDOM * 300)) /dev/urandom > "$SRC/big$RANDOM"; fi
  if [ "${LIVE:-0}" = 1 ]; then
    for k in $(seq 1 60); do live_file "$k"; mkdir -p "${f%/*}"; gen "$f" $((RANDOM % 6 == 0 ? RANDOM * 4 : RANDOM % 1500)); done
  fi
}
# LIVE=1: live_file K sets f to the Kth of the live files' names; gen FILE
# UNITS writes FILE anew (truncated, then written) as UNITS copies of a new
# tag; mutate changes live/ while the push ($mp) runs (400 steps at most)
ver=0
live_file() { f="$SRC/live/d$(($1 % 4))/f$(($1 % 40))"; }
gen() {
  ver=$((ver + 1))
  yes "$(printf '%05d%010d' "${p:-0}" "$ver")" | head -c $(($2 * 16)) > "$1"
}
mutate() {
  RANDOM=$((SEED * 1000 + p)); ver=1000000 # (tags apart from the tree's)
  local k g size
  for ((k = 0; k < 400; k++)); do
    kill -0 "$mp" 2>/dev/null || return 0
    live_file $RANDOM; g=$f; live_file $RANDOM
    case $((RANDOM % 10)) in
      0|1|2|3) if [ -d "$f" ]; then rm -rf "$f"; fi; mkdir -p "${f%/*}"; gen "$f" $((RANDOM % 6 == 0 ? RANDOM * 4 : RANDOM % 1500)) ;;
      4) if [ -s "$f" ]; then yes "$(head -c 15 "$f")" | head -c $((RANDOM % 2000 * 16)) >> "$f"; fi ;;
      5) if [ -f "$f" ]; then size=$(stat -c %s "$f"); truncate -s $((size / 32 * 16)) "$f"; fi ;;
      6) rm -rf "$f" ;;
      7) rm -rf "$f"; mkdir -p "$f"; gen "$f/inner" $((RANDOM % 300)) ;;
      8) if [ -f "$f" ] && [ ! -d "$g" ]; then mv -f "$f" "$g"; fi ;;
      9) if [ -f "$f" ] && [ ! -d "$g" ] && [ "$f" != "$g" ]; then ln -f "$f" "$g"; fi ;;
    esac 2>/dev/null
    sleep "0.0$((RANDOM % 10))"
  done
}
# torn I: the files under live/ at target I that are not one tag repeated (an empty file is whole), each
# as NAME@HASH: the ones the push made are those not there before it (prepare's junk is torn by design)
torn() {
  in_t "$1" node -e '
    const fs = require("fs"), path = require("path"), bad = [];
    (function walk(d) {
      let names; try { names = fs.readdirSync(d); } catch { return; }
      for (const n of names) {
        const p = path.join(d, n), st = fs.lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && !n.includes(".mrsync.")) {
          const b = fs.readFileSync(p), tag = b.subarray(0, 16);
          let ok = b.length % 16 === 0 && (b.length === 0 || /^[0-9]{15}\n$/.test(tag.toString("latin1")));
          for (let i = 16; ok && i < b.length; i += 16) ok = b.compare(tag, 0, 16, i, i + 16) === 0;
          if (!ok) bad.push(path.relative(process.argv[1], p) + "@" + require("crypto").createHash("sha1").update(b).digest("hex").slice(0, 8));
        }
      }
    })(path.join(process.argv[1], "live"));
    console.log(bad.join(" "));' "$DST"
}
# prepare I: target I's destination in one of four states, its digit in $mode
# (not in a subshell: bash seeds RANDOM anew in one, and SEED would not
# give the same pushes again)
prepare() {
  local i=$1
  mode=$((RANDOM % 4))
  case $mode in
    0) in_t "$i" find "$DST" -mindepth 1 -delete ;;
    1) : ;;
    2) in_t "$i" find "$DST" -mindepth 1 -delete; in_t "$i" cp -a "$SRC/." "$DST/"
       in_t "$i" sh -c "cd '$DST' && find . -type f | awk 'NR % 7 == 0' | xargs -r rm -f; find . -type f | awk 'NR % 11 == 0' | while read -r f; do echo junk >> \"\$f\"; done; mkdir -p junkdir/x; echo j > junkdir/x/y" ;;
    3) in_t "$i" sh -c "cd '$DST' && find . -mindepth 1 -maxdepth 2 -type d | awk 'NR % 3 == 0' | while read -r d; do rm -rf \"\$d\"; echo notadir > \"\$d\"; done; find . -type f | awk 'NR % 5 == 0' | while read -r f; do rm -f \"\$f\"; mkdir -p \"\$f/sub\"; done" 2>/dev/null ;;
  esac
}
# MESS=1: mess I RATE REORDER DUP (per mille): target I's port shaped to RATE
# Mbit/s (htb) with REORDER of the pages to it, and of its feedback, held back
# in a slow class (the pages at a 20th of the link, the feedback at 100
# kbit/s: a few ms, so later ones overtake them), and DUP of each sent twice
# (a second copy of the master's frame straight out of the port, of the
# target's out of the master's). This kernel has no netem; htb, nftables'
# dup and the skb's priority do it.
mess() {
  local i=$1 r=$2 ro=$3 dp=$4 sw="${PFX}sw" port="${PFX}t$1" t="${PFX}t$1"
  ip netns exec "$sw" nft delete table netdev "mess$i" 2>/dev/null || true
  ip netns exec "$sw" nft delete table bridge "mess$i" 2>/dev/null || true
  ip netns exec "$t" nft delete table inet mess 2>/dev/null || true
  ip netns exec "$sw" tc qdisc del dev "$port" root 2>/dev/null || true
  ip netns exec "$t" tc qdisc del dev eth0 root 2>/dev/null || true
  ip netns exec "$sw" tc qdisc add dev "$port" root handle 1: htb default 10
  ip netns exec "$sw" tc class add dev "$port" parent 1: classid 1:10 htb rate "${r}mbit" quantum 1514
  ip netns exec "$sw" tc class add dev "$port" parent 1: classid 1:20 htb rate "$((r * 50))kbit" ceil "$((r * 50))kbit" burst 1600 cburst 1600
  ip netns exec "$t" tc qdisc add dev eth0 root handle 1: htb default 10
  ip netns exec "$t" tc class add dev eth0 parent 1: classid 1:10 htb rate 10gbit quantum 1514
  ip netns exec "$t" tc class add dev eth0 parent 1: classid 1:20 htb rate 100kbit ceil 100kbit burst 1600 cburst 1600
  ip netns exec "$sw" nft -f - <<EOF
table netdev mess$i {
  chain pages {
    type filter hook ingress device "${PFX}m" priority 0
    udp dport 8888 numgen random mod 1000 < $dp counter dup to "$port"
  }
  chain feedback {
    type filter hook ingress device "$port" priority 0
    udp dport 8887 numgen random mod 1000 < $dp counter dup to "${PFX}m"
  }
}
table bridge mess$i {
  chain fw {
    type filter hook forward priority 0
    oifname "$port" udp dport 8888 numgen random mod 1000 < $ro counter meta priority set 1:20
  }
}
EOF
  ip netns exec "$t" nft -f - <<EOF
table inet mess {
  chain out {
    type filter hook output priority 0
    udp dport 8887 numgen random mod 1000 < $ro counter meta priority set 1:20
  }
}
EOF
}
flagged=0
echo "chaos: $PUSHES pushes to $N targets$( [ "${DAEMON:-0}" = 1 ] && echo ' (daemons)'), seed $SEED"
for p in $(seq 1 "$PUSHES"); do
  if [ $((p % 4)) = 1 ]; then tree; fi
  states=""; losses=""; rates=""
  for i in $(seq 1 "$N"); do
    prepare "$i"; states+=$mode
    ip netns exec "${PFX}t$i" nft delete table inet loss
    l=$(( RANDOM % 5 == 0 ? RANDOM % 150 : RANDOM % 20 )); loss "t$i" "$l"; losses+="$l,"
    r=$(( RANDOM % 6 == 0 ? 10 + RANDOM % 30 : 100 ))
    if [ "${MESS:-0}" = 1 ]; then
      # one port in three clean; the others reorder and duplicate up to 3% each way
      if [ $((RANDOM % 3)) = 0 ]; then ro=0; dp=0; else ro=$(( (RANDOM % 4) * 10 )); dp=$(( (RANDOM % 4) * 10 )); fi
      mess "$i" "$r" "$ro" "$dp"; rates+="$r:r$ro/d$dp,"
    else
      ip netns exec "${PFX}sw" tc qdisc replace dev "${PFX}t$i" root tbf rate "${r}mbit" burst 64kb latency 50ms
      rates+="$r,"
    fi
  done
  declare -A before=()
  if [ "${LIVE:-0}" = 1 ]; then for i in $(seq 1 "$N"); do before[$i]=" $(torn "$i") "; done; fi
  flags=""
  if [ "${V6:-0}" = 1 ]; then flags+=" -A ff15::4d:5253 -I eth0"; fi
  if [ $((RANDOM % 2)) = 0 ]; then flags+=" --delete"; fi
  if [ $((RANDOM % 5)) = 0 ]; then flags+=" --checksum"; fi
  if [ $((RANDOM % 5)) = 0 ]; then flags+=" --encrypt"; fi
  victim=0; if [ $((RANDOM % 4)) = 0 ]; then victim=$((RANDOM % N + 1)); fi
  closed=""
  if [ "${CLOSED:-0}" = 1 ] && [ $((RANDOM % 3)) = 0 ]; then
    # the master's answer port closed (its firewall): the answers come over the channels
    closed=" closed"
    port_closed m 8887
  fi
  t0=$(date +%s.%N)
  ip netns exec "${PFX}m" timeout 150 "$MRSYNC" "${push[@]}" -s "$SRC" -w 20 $flags --status-file "$WORK/status.json" > "$WORK/out" 2>&1 &
  mp=$!
  if [ "${LIVE:-0}" = 1 ]; then mutate & mutator=$!; fi
  if [ "$victim" != 0 ]; then
    sleep "0.$((RANDOM % 9 + 1))"
    for pid in $(ip netns pids "${PFX}t$victim"); do
      if grep -q multicatcher "/proc/$pid/cmdline" 2>/dev/null && ! grep -q -- --daemon "/proc/$pid/cmdline"; then kill -9 "$pid" 2>/dev/null; fi
    done
  fi
  wait "$mp"; rc=$?
  wall=$(echo "$(date +%s.%N) - $t0" | bc -l)
  if [ "${LIVE:-0}" = 1 ]; then wait "$mutator"; fi
  bad=""
  if [ "$rc" = 124 ]; then bad+=" hung"; fi
  # each target's state from the status file (the report's table is abridged for a big fleet)
  rm -f "$WORK/states"
  if [ -s "$WORK/status.json" ]; then
    node -e 'for (const t of require(process.argv[1]).targets) console.log(t.host, t.state)' "$WORK/status.json" > "$WORK/states"
  fi
  for i in $(seq 1 "$N"); do
    h="t$i"; if [ "${DAEMON:-0}" = 1 ]; then h=$(cat "$MRSYNC_TEST_HOSTS/t$i.addr"); fi
    st=$(awk -v h="$h" '$1 == h {print $2; exit}' "$WORK/states" 2>/dev/null)
    if [ "$st" = OK ]; then
      # a live source: the rest of the tree (live/ is checked for torn files below, and after the quiet push)
      x=(); if [ "${LIVE:-0}" = 1 ]; then x=(--exclude /live/); fi
      if [[ "$flags" == *--delete* ]]; then o=$(in_t "$i" rsync -aHn --delete --itemize-changes --checksum "${x[@]}" "$SRC/" "$DST/")
      else o=$(in_t "$i" rsync -aHn --itemize-changes --checksum "${x[@]}" "$SRC/" "$DST/"); fi
      if [ -n "$o" ]; then bad+=" t$i-OK-but-differs"; fi
    elif [ -z "$st" ]; then bad+=" t$i-not-in-the-status-file"
    elif [ "$st" = DROPPED ] && [ "$i" != "$victim" ]; then bad+=" t$i-dropped-not-killed"
    fi
    if [ "${LIVE:-0}" = 1 ]; then
      for o in $(torn "$i"); do
        if [[ "${before[$i]}" != *" $o "* ]]; then bad+=" t$i-torn:$o"; fi
      done
    fi
  done
  if [ "${LIVE:-0}" = 1 ]; then
    # the quiet push: nothing changes or is killed; every target ends OK and exact
    qflags=${flags/ --delete/}
    ip netns exec "${PFX}m" timeout 150 "$MRSYNC" "${push[@]}" -s "$SRC" -w 20 $qflags --delete --status-file "$WORK/status.json" > "$WORK/out2" 2>&1
    qrc=$?
    if [ "$qrc" != 0 ]; then bad+=" quiet-push-exit-$qrc"; cat "$WORK/out2" >> "$WORK/out"; fi
    for i in $(seq 1 "$N"); do
      o=$(in_t "$i" rsync -aHn --delete --itemize-changes --checksum "$SRC/" "$DST/")
      if [ -n "$o" ]; then bad+=" t$i-differs-after-quiet-push"; fi
    done
  fi
  if grep -q 'NOT_DELIVERED\|internal' "$WORK/out"; then bad+=" not-delivered-or-internal"; fi
  if [ -n "$closed" ]; then port_open m; fi
  printf 'push %2d: %5.1f s exit %s states %s%s%s kill t%s loss %s rates %s: %s\n' "$p" "$wall" "$rc" "$states" "$flags" "$closed" "$victim" "${losses%,}" "${rates%,}" "${bad:-ok}"
  if [ -n "${KEEP_OUT:-}" ]; then mkdir -p "$KEEP_OUT"; cp "$WORK/out" "$KEEP_OUT/chaos-$SEED-$p.out"; fi
  if [ -n "$bad" ]; then
    flagged=$((flagged + 1))
    mkdir -p "$REPO/bench/failed"; cp "$WORK/out" "$REPO/bench/failed/chaos-$SEED-$p.out"
  fi
done
echo "chaos: $flagged of $PUSHES pushes flagged"
[ "$flagged" = 0 ]
