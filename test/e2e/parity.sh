#!/usr/bin/env bash
# Parity repair: eight targets each losing 3% of datagrams (different ones).
# A file of more than 12288 pages is repaired during its first pass too
# (checkpoints after each chunk of 4096 pages).
# The repair rounds send parity pages (Reed-Solomon over blocks of 128 pages)
# where the targets lost different pages; each target rebuilds its own lost
# pages from them. Every copy is exact; the pages re-sent are far fewer than
# with --no-parity (the union of everybody's losses) in the same topology;
# the same holds with --encrypt.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

N=8
targets_up $N
HOSTS=$(seq -s, -f 't%g' 1 $N)
for i in $(seq 1 $N); do loss "t$i" 30; done
head -c 6000000 /dev/urandom > "$SRC/random.bin"
# big enough for checkpoints (sent in chunks of 4096 pages, repaired during the pass)
head -c 24000000 /dev/urandom > "$SRC/checkpoints.bin"
# a block of zero pages in the middle (sparse on the targets), a short last block
{ head -c 500000 /dev/urandom; head -c 400000 /dev/zero; head -c $((128 * 1436 * 3 + 100)) /dev/urandom; } > "$SRC/zeros-and-tail.bin"
head -c 2000 /dev/urandom > "$SRC/two-pages.bin"
mkdir -p "$SRC/d"; for k in $(seq 1 30); do head -c $((k * 4099)) /dev/urandom > "$SRC/d/f$k"; done

fresh() { local i; for i in $(seq 1 $N); do find "$(disk t$i)" -mindepth 1 -delete; done; }
resent() { sed -n 's/.* + \([0-9]*\) re-sent .*/\1/p' "$1"; }

push() {  # push OUT ARGS...: one push to every target, checked
  local out=$1; shift
  run_master -m "$HOSTS" -s "$SRC" -t "$DST" --rate 200m -w 30 --page-size 1436 "$@" > "$out" 2>&1 \
    || { rc=$?; cat "$out"; fail "push $* exited $rc"; }
  cat "$out"
  grep -q "$N of $N targets OK" "$out" || fail "not every target OK ($*)"
  local i; for i in $(seq 1 $N); do verify "$SRC" "$(disk t$i)"; done
}

push "$WORK/parity" --status-file "$WORK/status.json"
line=$(grep '^repair: ' "$WORK/parity") || fail "no repair line in the report"
parity=$(echo "$line" | sed -n 's/.*, \([0-9]*\) parity pages.*/\1/p')
rebuilt=$(echo "$line" | sed -n 's/.*rebuilt \([0-9]*\) lost pages.*/\1/p')
[ "${parity:-0}" -gt 0 ] || fail "no parity pages were sent: $line"
[ "${rebuilt:-0}" -gt "$parity" ] || fail "targets rebuilt $rebuilt pages from $parity parity pages: one parity page should repair several targets"
echo "$line" | grep -Eq '; [1-9][0-9]* of these pages went out during the first pass \(checkpoints\)$' || fail "no repair during the first pass of the big file: $line"
node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const rebuilt = s.targets.reduce((a, t) => a + t.rebuiltPages, 0);
  if (s.totals.parityPages !== Number(process.argv[2])) throw new Error(`status parityPages ${s.totals.parityPages} != report ${process.argv[2]}`);
  if (rebuilt !== Number(process.argv[3])) throw new Error(`status rebuiltPages ${rebuilt} != report ${process.argv[3]}`);
  if (s.targets.some((t) => t.rebuiltPages === 0)) throw new Error("a target rebuilt nothing at 3% loss");
' "$WORK/status.json" "$parity" "$rebuilt"
with=$(resent "$WORK/parity")

fresh
push "$WORK/plain" --no-parity
grep -q '^repair: [0-9]* pages re-sent, 0 parity pages; targets rebuilt 0' "$WORK/plain" || fail "--no-parity sent parity"
without=$(resent "$WORK/plain")
echo "pages re-sent: $with with parity, $without with plain re-sends"
[ $((with * 10)) -lt $((without * 7)) ] || fail "parity did not cut the re-sends: $with vs $without"

fresh
push "$WORK/encrypted" --encrypt --page-size 1428
grep -Eq '^repair: .*, [1-9][0-9]* parity pages; targets rebuilt [1-9]' "$WORK/encrypted" || fail "no parity repair with --encrypt"
echo PASS
