#!/usr/bin/env bash
# Memory and time for a huge tree: FILES empty files in DIRS directories,
# pushed to one target on the simulated LAN (both trees on tmpfs). Reports the
# peak RSS of the master and of the catcher (/usr/bin/time -v), the time to
# scan on the master and the time until the target's plan (needs) is in, from
# the master's --log-file, and the wall time of the whole push; then a second
# push of the same tree (nothing to send) and the verification with rsync.
#
#   bash bench/scale.sh [FILES] [DIRS]        (default 1000000 10000)
set -euo pipefail
FILES=${1:-1000000}; DIRS=${2:-10000}
source "$(dirname "$0")/../test/e2e/lib.sh"
SCALE=$(mktemp -d /dev/shm/mrsync-scale.XXXXXX)
trap 'lan_down; rm -rf "$SCALE"' EXIT
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time" >&2; exit 1; }
lan_up 1
SRC="$SCALE/src"; DST="$SCALE/dst"
mkdir -p "$DST"
bench_target t1 "$DST" size=8g,nr_inodes=4m
in_t1() { nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/t1.pid")" -m "$@"; }
node -e '
const fs = require("fs"); const [root, files, dirs] = [process.argv[1], +process.argv[2], +process.argv[3]];
for (let d = 0; d < dirs; d++) fs.mkdirSync(`${root}/d${d}`, { recursive: true });
for (let i = 0; i < files; i++) fs.closeSync(fs.openSync(`${root}/d${i % dirs}/f${i}`, "w"));
' "$SRC" "$FILES" "$DIRS"
cat > "$SCALE/catcher" <<EOS
#!/bin/sh
exec /usr/bin/time -v -o "$SCALE/catcher.time" "$REPO/bin/multicatcher"
EOS
chmod +x "$SCALE/catcher"
kib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
push() { # push NAME: one timed run
  local t0 t1
  t0=$(date +%s.%N)
  ip netns exec "${PFX}m" /usr/bin/time -v -o "$SCALE/master.time" "$MRSYNC" -r "$NSRSH" -m t1 -s "$SRC" -t "$DST" \
    --remote-path "$SCALE/catcher" -w 300 -v 1 --log-file "$SCALE/$1.log" > "$SCALE/$1.out" 2> "$SCALE/$1.err" || { tail -5 "$SCALE/$1.out"; exit 1; }
  t1=$(date +%s.%N)
  local start scan needs
  start=$(node -e 'const l=require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(JSON.parse);
    const t=(re)=>{const x=l.filter(e=>re.test(e.msg)).pop();return x?x.time:NaN};
    const s=t(/^push started/); console.log(((t(/^manifest:/)-s)/1000).toFixed(1), ((t(/^needs$/)-s)/1000).toFixed(1))' "$SCALE/$1.log")
  read -r scan needs <<< "$start"
  printf '| %s | %s files, %s dirs | %.1f s | %s s | %s s | %d MiB | %d MiB |\n' "$1" "$FILES" "$DIRS" "$(echo "$t1 - $t0" | bc)" \
    "$scan" "$needs" $(( $(kib "$SCALE/master.time") / 1024 )) $(( $(kib "$SCALE/catcher.time") / 1024 ))
}
echo "| run | tree | wall | scan done | plan in (needs) | master peak RSS | catcher peak RSS |"
echo "|---|---|---|---|---|---|---|"
push first
push again
[ -z "$(in_t1 rsync -a -n --itemize-changes "$SRC/" "$DST/" | head -5)" ] || { echo "bench: target differs from the source" >&2; exit 1; }
echo "verified: rsync -an --itemize-changes prints nothing"
