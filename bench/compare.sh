#!/usr/bin/env bash
# Side-by-side benchmark on the simulated LAN: mrsync vs udpcast (tar pipe)
# vs uftp, same targets, same links, same data, same run.
#
#   bash bench/compare.sh [-n TARGETS] [-l LINK_MBIT] [-s big,tree] [-p 0,10] [-t mrsync,mrsyncd,udpcast,uftp]
#   MRSYNC_FLAGS="--encrypt" bash bench/compare.sh -t mrsync ...   (extra mrsync options, shown in the tool column)
#   mrsync runs with its defaults; -t mrsyncfixed,mrsyncdfixed add rows with --rate = the link's rate (tuned);
#   -t mrsyncwarm: the defaults on a second push to the same targets (the rate kept from an untimed first)
#   -t mrsyncclosed: the defaults with the master's answer port closed (its firewall): answers over the remote shells
#   BIG_MIB=32 bash bench/compare.sh -s big ...   (the big file's size; default 256 MiB)
#   bash bench/compare.sh -s real ...   (real data: a snapshot of /usr/share and /usr/include, copied as they are; REAL_SRC="DIR..." for others)
#   MRSYNC_B=/other/clone/bin/mrsync MRSYNC_B_NAME=before bash bench/compare.sh -t mrsync,mrsyncB ...   (A/B, same run)
#   ... -t mrsyncd,mrsyncdB   (A/B of a master-side change: B's master, this build's daemons)
#   KEEP_OUT=/some/dir bash bench/compare.sh ...   (keep each mrsync run's output there, e.g. with MRSYNC_FLAGS="-v 2")
#   UFTP_BLOCK=1448 bash bench/compare.sh -t uftp ...   (uftp's block size; default 1400)
#   -t rsync: one `rsync -aH` per target, all in parallel, to rsync daemons on the targets (TCP: the loss rule drops UDP only)
#   FRESH=2 bash bench/compare.sh -n 5 ...   (targets 3..5 start mostly up to date: the source with every 10th file
#       removed and every 20th changed; targets 1..2 empty. Default: all empty)
#   BURST=3:300:50 bash bench/compare.sh ...   (a burst of loss on the LAN in every run: 300 ms of 50% of the UDP
#       arriving at every target dropped, 3 s after the clock starts)
#
# Tools: mrsync starts its catchers through the remote shell inside the
# clock (as `mrsync -m hosts` does over ssh); mrsyncd pushes to standing
# `multicatcher --daemon`s (mrsync --daemon). Receivers that stand (the
# daemons, uftpd, udpcast's udp-receivers) are started before the clock, as
# a fleet has them running when a push begins.
#
# Links: tbf at LINK on the master's uplink and on every target's switch
# port. Loss: nftables drops that permille of UDP arriving at each target.
# Every run is verified (content and symlinks, rsync -rlcn) on every target; a run that
# fails verification is reported as FAILED, never timed. Prints one markdown
# table row per run. Needs root, udpcast and uftp (apt-get install udpcast uftp).
set -euo pipefail
N=10; LINK=200; SETS=big,tree; LOSSES=0,10; TOOLS=mrsync,mrsyncd,udpcast,uftp
while getopts "n:l:s:p:t:" o; do
  case $o in n) N=$OPTARG;; l) LINK=$OPTARG;; s) SETS=$OPTARG;; p) LOSSES=$OPTARG;; t) TOOLS=$OPTARG;; *) exit 1;; esac
done
source "$(dirname "$0")/../test/e2e/lib.sh"
trap lan_down EXIT
needs="rsync nft tc"
[[ ",$TOOLS," == *,udpcast,* ]] && needs="$needs udp-sender udp-receiver"
[[ ",$TOOLS," == *,uftp,* ]] && needs="$needs uftp uftpd"
[[ ",$TOOLS," == *,rsync,* ]] && needs="$needs rsync"
for c in $needs; do command -v $c >/dev/null || { echo "bench: needs $c (apt-get install rsync nftables udpcast uftp)" >&2; exit 1; }; done

lan_up "$N"
DST="$WORK/dst"; mkdir -p "$DST"
shape "${PFX}m" eth0 "$LINK"
for i in $(seq 1 "$N"); do bench_target "t$i" "$DST" size=2g "$LINK"; done
hosts=$(seq -s, -f 't%g' 1 "$N")
ips=$(for i in $(seq 1 "$N"); do echo "198.18.0.$((10 + i))"; done | paste -sd,)

# data sets, generated once per run (random content, fixed size distribution)
mkdir -p "$WORK/big" "$WORK/tree"
head -c $((${BIG_MIB:-256} * 1024 * 1024)) /dev/urandom > "$WORK/big/file.bin"
awk 'BEGIN { srand(42); for (i = 0; i < 2000; i++) printf "%d %d\n", i, int(exp(log(1024) + rand() * (log(524288) - log(1024)))) }' |
  while read -r i sz; do d="$WORK/tree/d$((i % 40))"; mkdir -p "$d"; head -c "$sz" /dev/urandom > "$d/f$i"; done
if [[ ",$SETS," == *,real,* ]]; then
  # a snapshot of the machine's shared-data and header directories (or REAL_SRC's, space-separated), each under its name
  for d in ${REAL_SRC:-/usr/share /usr/include}; do mkdir -p "$WORK/real/$(basename "$d")" && cp -a "$d/." "$WORK/real/$(basename "$d")/"; done
  echo "bench: real = ${REAL_SRC:-/usr/share /usr/include}: $(find "$WORK/real" -type f | wc -l) files, $(find "$WORK/real" -type l | wc -l) symlinks, $(du -sm --apparent-size "$WORK/real" | cut -f1) MB" >&2
fi
# the data sets on disk before any clock starts (their write-back would run during the first tool's push)
sync
bytes_of() { du -sb --apparent-size "$1" | cut -f1; }

set_loss() {
  for i in $(seq 1 "$N"); do
    ip netns exec "${PFX}t$i" nft delete table inet bloss 2>/dev/null || true
    [ "$1" = 0 ] && continue
    ip netns exec "${PFX}t$i" nft add table inet bloss
    ip netns exec "${PFX}t$i" nft add chain inet bloss in '{ type filter hook input priority 0; }'
    ip netns exec "${PFX}t$i" nft add rule inet bloss in meta l4proto udp numgen random mod 1000 '<' "$1" drop
  done
}
# burst_loss AT_S MS PERCENT: MS ms of PERCENT% of the UDP arriving at every target dropped, AT_S s from now
burst_loss() {
  local i
  sleep "$1"
  for i in $(seq 1 "$N"); do
    printf 'table inet burst {\n chain in {\n  type filter hook input priority 0;\n  meta l4proto udp numgen random mod 100 < %s drop\n }\n}\n' "$3" \
      | ip netns exec "${PFX}t$i" nft -f -
  done
  sleep "$(echo "$2 / 1000" | bc -l)"
  for i in $(seq 1 "$N"); do ip netns exec "${PFX}t$i" nft delete table inet burst 2>/dev/null || true; done
}
clear_targets() { for i in $(seq 1 "$N"); do in_t "$i" find "$DST" -mindepth 1 -delete; done; }
# prepare_targets SRC: targets FRESH+1..N hold SRC mostly (every 10th file removed, every 20th one byte longer), the others nothing
prepare_targets() {
  local i
  clear_targets
  for i in $(seq $((${FRESH:-$N} + 1)) "$N"); do
    in_t "$i" cp -a "$1/." "$DST/"
    in_t "$i" sh -c "cd '$DST' && find . -type f -print0 | sort -z | sed -zn '0~10p' | xargs -0 -r rm -f"
    in_t "$i" sh -c "cd '$DST' && find . -type f -print0 | sort -z | sed -zn '3~20p' | xargs -0 -r -n 500 sh -c 'for f; do printf x >> \"\$f\"; done' _"
  done
}
# verify_all SRC: every target's copy is SRC; on a difference, the rsync
# itemization and the tool's output are kept in bench/failed/ (the work
# directory is removed at the end)
FAILS=0
verify_all() {
  local i diff bad=0 keep
  for i in $(seq 1 "$N"); do
    diff=$(in_t "$i" rsync -rlcn --itemize-changes "$1/" "$DST/")
    [ -z "$diff" ] && continue
    bad=1; FAILS=$((FAILS + 1))
    keep="$REPO/bench/failed/$(date +%Y%m%d-%H%M%S)-$FAILS"; mkdir -p "$keep"
    echo "$diff" > "$keep/t$i.diff"
    cp "$WORK"/*.out "$WORK"/*.err "$WORK"/daemon-t*.log "$keep/" 2>/dev/null || true
    echo "bench: t$i differs from the source, evidence in $keep" >&2
  done
  return $bad
}
# ns_procs HOST NAME: pids of the processes named NAME in HOST's network namespace (m, t1, ...)
ns_procs() { ip netns pids "${PFX}$1" | xargs -r ps -o pid=,comm= -p 2>/dev/null | awk -v n="$2" '$2 == n {print $1}'; }
cpu_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

# mrsync runs with its defaults (the rate found from feedback), as users run
# it; the tools mrsyncfixed and mrsyncdfixed are the labelled second rows,
# with --rate set to the link's rate (a number a user does not have)
mrsync_rate() { [ "${MRSYNC_RATE:-auto}" = auto ] || echo --rate "${LINK}m"; }
# mrsync_run MRSYNC ARGS...: one push from the master's namespace, bounded in
# time, output in mrsync.out; sets its figures, returns its exit status
mrsync_run() {
  local rc=0
  # shellcheck disable=SC2046
  ip netns exec "${PFX}m" timeout "${TIMEOUT:-180}" "$@" $(mrsync_rate) -w 60 -v 1 ${MRSYNC_FLAGS:-} > "$WORK/mrsync.out" 2>&1 || rc=$?
  [ -z "${KEEP_OUT:-}" ] || cp "$WORK/mrsync.out" "$KEEP_OUT/mrsync-$(date +%H%M%S.%N).out"
  mrsync_figures
  return "$rc"
}
# push_shell MRSYNC SRC: a push through the remote shell (catchers started inside the clock)
push_shell() { mrsync_run "$1" -r "$NSRSH" -m "$hosts" -s "$2" -t "$DST"; }
run_mrsync() { push_shell "$MRSYNC" "$1"; }
run_mrsyncfixed() { MRSYNC_RATE=fixed push_shell "$MRSYNC" "$1"; }
# mrsyncwarm: a user's second push to the same targets, with the defaults: an
# untimed first push before the clock (it keeps the rate it settled at), the
# targets emptied, then the timed push, which starts from that rate
pre_mrsyncwarm() { push_shell "$MRSYNC" "$src" || true; clear_targets; }
run_mrsyncwarm() { push_shell "$MRSYNC" "$1"; }
# mrsyncclosed: the defaults, with the master's answer port (8887) closed as by
# its firewall: the targets' answers come over their remote shells
run_mrsyncclosed() {
  local rc=0
  port_closed m 8887
  push_shell "$MRSYNC" "$1" || rc=$?
  port_open m
  return "$rc"
}
# mrsyncB: another build of mrsync (MRSYNC_B=/other/clone/bin/mrsync, with its
# own catchers beside it) through the remote shell, for A/B figures in one run
run_mrsyncB() { push_shell "${MRSYNC_B:?MRSYNC_B names the other build}" "$1"; }
# the standing daemons: started once, before the first mrsyncd run's clock
KEY="$WORK/bench.key"; DAEMONS=()
pre_mrsyncd() {
  local i
  if [ ${#DAEMONS[@]} = 0 ]; then
    "$REPO/bin/multicatcher" --new-key "$KEY" > /dev/null
    for i in $(seq 1 "$N"); do
      in_t "$i" "$REPO/bin/multicatcher" --daemon --root "$DST" --key-file "$KEY" 2>> "$WORK/daemon-t$i.log" & DAEMONS+=($!)
    done
  fi
  # each daemon listening; two seconds for its spare catcher (started as it
  # listens and a second after each session) to be up before the clock starts
  for i in $(seq 1 "$N"); do
    for _ in $(seq 1 200); do ip netns exec "${PFX}t$i" ss -ltn | grep -q ':8731 ' && break; sleep 0.05; done
  done
  sleep 2
}
run_mrsyncd() { mrsync_run "$MRSYNC" --daemon --key-file "$KEY" -m "$ips" -s "$1" -t .; }
pre_mrsyncdfixed() { pre_mrsyncd; }
run_mrsyncdfixed() { MRSYNC_RATE=fixed run_mrsyncd "$1"; }
# mrsyncdB: the other build's master with this build's daemons (A/B of a change on the master's side only)
pre_mrsyncdB() { pre_mrsyncd; }
run_mrsyncdB() { mrsync_run "${MRSYNC_B:?MRSYNC_B names the other build}" --daemon --key-file "$KEY" -m "$ips" -s "$1" -t .; }
mrsync_figures() {
  RESENT="$(sed -n 's/.* re-sent (\([0-9.]*\)%).*/\1/p' "$WORK/mrsync.out")%"
  FEEDBACK="$(sed -n 's/^feedback: \([0-9]*\) packets.*(\([0-9.]*\) per target per file).*/\1 (\2\/target\/file)/p' "$WORK/mrsync.out")"
  # mrsync measures itself: the master process and each catcher (all threads, user + system)
  CPUGB="$(sed -nE 's/^cpu: master [0-9.]+ s \(([0-9.]+) s\/GB[^)]*\), targets median [0-9.]+ s \(([0-9.]+) s\/GB.*/\1 \/ \2/p' "$WORK/mrsync.out")"
  CPUENT="$(sed -nE 's/^cpu: master [0-9.]+ s \([^)]*, ([0-9]+) us\/entry\), targets median [0-9.]+ s \([^)]*, ([0-9]+) us\/entry.*/\1 \/ \2/p' "$WORK/mrsync.out")"
}
# cpu_per UNITS FORMAT: CPU seconds per unit (GB: s/GB; entries / 1e6: us
# per entry) of the sender (cpu/s) and the median receiver (cpu/r*): udpcast
# and uftp run under /usr/bin/time (the sender's and each receiver's
# processes with their waited-for children, e.g. tar)
cpu_per() {
  local per=$1 fmt=$2 s r
  s=$(tail -1 "$WORK/cpu/s" 2>/dev/null | awk -v per="$per" -v fmt="$fmt" '{printf fmt, ($1 + $2) / per}')
  r=$(for f in "$WORK"/cpu/r*; do tail -1 "$f"; done 2>/dev/null | awk '{print $1 + $2}' | sort -n \
    | awk -v per="$per" -v fmt="$fmt" '{v[NR] = $1} END {if (NR) printf fmt, v[int((NR + 1) / 2)] / per}')
  echo "${s:-?} / ${r:-?}"
}
# start_receivers CMD...: CMD in every target (under /usr/bin/time, for its CPU), before the clock
PIDS=()
start_receivers() {
  local i
  PIDS=()
  for i in $(seq 1 "$N"); do
    in_t "$i" timeout "${TIMEOUT:-180}" /usr/bin/time -f '%U %S' -o "$WORK/cpu/r$i" "$@" & PIDS+=($!)
  done
  sleep 0.5
}
pre_udpcast() { start_receivers sh -c "udp-receiver --interface eth0 --nokbd 2>/dev/null | tar -C '$DST' -xf -"; }
run_udpcast() {
  local pids=("${PIDS[@]}") i
  ip netns exec "${PFX}m" timeout "${TIMEOUT:-180}" /usr/bin/time -f '%U %S' -o "$WORK/cpu/s" sh -c "tar -C '$1' -cf - . | udp-sender --interface eth0 --nokbd --min-receivers $N --max-bitrate ${LINK}m 2> '$WORK/udpcast.err'"
  # a receiver whose end-of-transfer handshake was lost can wait forever:
  # give them 10 s after the sender is done, then stop them (verification decides)
  HUNG=0
  for _ in $(seq 1 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for i in $(seq 1 "$N"); do
    local hung
    hung=$(ns_procs "t$i" udp-receiver)
    if [ -n "$hung" ]; then HUNG=$((HUNG + 1)); kill $hung 2>/dev/null || true; fi
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # a sender the timeout left behind (it stopped the shell, not the pipe) holds the port for the next run
  kill $(ns_procs m udp-sender) 2>/dev/null || true
  RESENT="$(grep -o 're-xmits=[0-9]* ([ 0-9.]*%' "$WORK/udpcast.err" | tail -1 | sed 's/.*(\s*//')"
  [ "$HUNG" = 0 ] || RESENT="$RESENT, $HUNG receiver(s) hung and were stopped 10 s after the sender"
}
pre_uftp() { start_receivers sh -c "exec uftpd -d -q -t -I eth0 -D '$DST' -x 0 > /dev/null 2>&1"; }
run_uftp() {
  local pids=("${PIDS[@]}") i
  # -R is in kbit/s (1024-based); -b 1400 keeps datagrams under the 1500 MTU
  # (uftp's man page: 100-200 bytes under the path MTU; UFTP_BLOCK=1448 fills
  # the frame); run from inside the source so names arrive relative to the destination
  ip netns exec "${PFX}m" timeout "${TIMEOUT:-180}" /usr/bin/time -f '%U %S' -o "$WORK/cpu/s" sh -c "cd '$1' && uftp -I eth0 -R $((LINK * 1000000 / 1024)) -b ${UFTP_BLOCK:-1400} -H '$ips' *" > "$WORK/uftp.out" 2>&1 || true
  for i in $(seq 1 "$N"); do kill $(ns_procs "t$i" uftpd) 2>/dev/null || true; done
  kill $(ns_procs m uftp) 2>/dev/null || true
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  RESENT="$(grep -oE 'Got [0-9]+ NAKs' "$WORK/uftp.out" | awk '{s+=$2} END {print s+0}') NAKs"
  # uftp's exit status says little (0 if any client got any file): verification decides
  return 0
}

# rsync: a daemon on every target (started before the clock, under /usr/bin/time for its CPU), one rsync -aH per target in parallel
pre_rsync() {
  printf 'uid = root\ngid = root\nuse chroot = yes\n[dst]\npath = %s\nread only = false\n' "$DST" > "$WORK/rsyncd.conf"
  start_receivers rsync --daemon --no-detach --port 873 --config="$WORK/rsyncd.conf"
  for i in $(seq 1 "$N"); do
    for _ in $(seq 1 200); do ip netns exec "${PFX}t$i" ss -ltn | grep -q ':873 ' && break; sleep 0.05; done
  done
}
run_rsync() {
  local pids=("${PIDS[@]}") i rc=0
  ip netns exec "${PFX}m" timeout "${TIMEOUT:-180}" /usr/bin/time -f '%U %S' -o "$WORK/cpu/s" bash -c '
    src=$1; shift; pids=(); for ip in "$@"; do rsync -aH "$src/" "rsync://$ip/dst/" & pids+=($!); done
    rc=0; for p in "${pids[@]}"; do wait "$p" || rc=$?; done; exit $rc' _ "$1" ${ips//,/ } > "$WORK/rsync.out" 2>&1 || rc=$?
  # the daemons' per-connection processes end by themselves (and are counted in the daemon's CPU once it reaps them):
  # up to 5 s for them, then each daemon alone is stopped
  for i in $(seq 1 "$N"); do
    for _ in $(seq 1 100); do [ "$(ns_procs "t$i" rsync | wc -l)" -le 1 ] && break; sleep 0.05; done
    kill $(ns_procs "t$i" rsync) 2>/dev/null || true
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  RESENT="-"
  return $rc
}

label() {
  case $1 in
    mrsyncB) echo "mrsync B (${MRSYNC_B_NAME:-$MRSYNC_B})${MRSYNC_FLAGS:+ $MRSYNC_FLAGS}";;
    mrsyncdB) echo "mrsync B (${MRSYNC_B_NAME:-$MRSYNC_B}) --daemon${MRSYNC_FLAGS:+ $MRSYNC_FLAGS}";;
    mrsync|mrsyncd) echo "mrsync$( [ "$1" = mrsyncd ] && echo ' --daemon')${MRSYNC_FLAGS:+ $MRSYNC_FLAGS}$( [ "${MRSYNC_RATE:-auto}" = auto ] || echo " --rate ${LINK}m (fixed)")";;
    mrsyncclosed) echo "mrsync, the master's answer port closed (answers over the remote shells)${MRSYNC_FLAGS:+ $MRSYNC_FLAGS}";;
    mrsyncwarm) echo "mrsync, second push (from the rate the first settled at)${MRSYNC_FLAGS:+ $MRSYNC_FLAGS}";;
    mrsyncfixed|mrsyncdfixed) echo "mrsync$( [ "$1" = mrsyncdfixed ] && echo ' --daemon') --rate ${LINK}m (fixed: tuned)${MRSYNC_FLAGS:+ $MRSYNC_FLAGS}";;
    uftp) echo "uftp${UFTP_BLOCK:+ -b $UFTP_BLOCK}";;
    rsync) echo "rsync -aH, one per target in parallel, to rsync daemons (TCP)";;
    *) echo "$1";;
  esac
}
echo "| tool | data | targets | link | loss | wall s | link efficiency | re-sent | feedback packets | CPU busy (2 cores) | CPU s/GB sender / receiver | CPU us/entry sender / receiver | verified |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
IFS=, read -ra sets <<< "$SETS"; IFS=, read -ra losses <<< "$LOSSES"; IFS=, read -ra tools <<< "$TOOLS"
for set in "${sets[@]}"; do
  src="$WORK/$set"; bytes=$(bytes_of "$src"); entries=$(find "$src" -mindepth 1 | wc -l)
  [ "$set" = tree ] || [ "$set" = real ] && bytes=$(find "$src" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
  [ "$set" = big ] && bytes=$(stat -c %s "$src/file.bin")
  for loss in "${losses[@]}"; do
    set_loss "$loss"
    for tool in "${tools[@]}"; do
      prepare_targets "$src"
      # every push is a first push to these targets: no rate kept from an earlier one
      rm -rf "$XDG_CACHE_HOME"
      RESENT="?"; FEEDBACK="-"; CPUGB=""; CPUENT=""
      rm -rf "$WORK/cpu"; mkdir -p "$WORK/cpu"
      if declare -F "pre_$tool" > /dev/null; then "pre_$tool"; fi
      j0=$(cpu_jiffies); t0=$(date +%s.%N)
      ok=yes; bpid=
      if [ -n "${BURST:-}" ]; then IFS=: read -r b_at b_ms b_pc <<< "$BURST"; burst_loss "$b_at" "$b_ms" "$b_pc" & bpid=$!; fi
      "run_$tool" "$src" || ok="no (exit $?)"
      t1=$(date +%s.%N); j1=$(cpu_jiffies)
      [ -z "$bpid" ] || wait "$bpid"
      verify_all "$src" || ok="FAILED"
      wall=$(echo "$t1 - $t0" | bc -l)
      eff=$(echo "$bytes * 8 / ($LINK * 1000000 * $wall)" | bc -l)
      cpu=$(echo "($j1 - $j0) / $(getconf CLK_TCK) / $wall / 2 * 100" | bc -l)
      [ -n "$CPUGB" ] || CPUGB=$(cpu_per "$(echo "$bytes / 1000000000" | bc -l)" %.1f)
      [ -n "$CPUENT" ] || CPUENT=$(cpu_per "$(echo "$entries / 1000000" | bc -l)" %.0f)
      [ "$entries" -ge 1000 ] || CPUENT="-"
      printf '| %s | %s (%s MB) | %s | %s Mbit/s | %s%% | %.1f | %.3f | %s | %s | %.0f%% | %s | %s | %s |\n' \
        "$(label "$tool")" "$set" "$((bytes / 1000000))" "$N" "$LINK" "$(echo "scale=1; $loss/10" | bc)" "$wall" "$eff" "${RESENT:-?}" "${FEEDBACK:--}" "$cpu" "$CPUGB" "$CPUENT" "$ok"
    done
  done
done
