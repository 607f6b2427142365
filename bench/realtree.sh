#!/usr/bin/env bash
# The real-tree benchmark: a snapshot, made as it runs, of this machine's
# /usr/share and /usr/include (tens of thousands of files, most a few KB,
# symlinks and hardlinks as they are), pushed with the defaults over 1 Gbit/s
# links, beside one rsync per target to rsync daemons (in parallel, TCP) over
# the same links, in the same run:
#   1. one empty target, no loss: mrsync, rsync
#   2. five targets, two empty and three mostly up to date (every 10th file
#      missing, every 20th changed), 0.5% loss: mrsync, rsync, udpcast (a tar
#      stream) and uftp, both given the link rate
# The CPU column gives each tool's CPU per entry of the tree (us), the sender
# and the median receiver. Needs root, rsync, nftables, udpcast, uftp.
#
#   bash bench/realtree.sh [TOOLS...]   (default: all of the above)
set -euo pipefail
here=$(dirname "$0")
T1=${T1:-mrsync,rsync}; T5=${T5:-mrsync,rsync,udpcast,uftp}
echo "## one empty target, 1 Gbit/s, no loss"
bash "$here/compare.sh" -n 1 -l 1000 -s real -p 0 -t "$T1"
echo
echo "## five targets (two empty, three mostly up to date), 1 Gbit/s, 0.5% loss"
FRESH=2 bash "$here/compare.sh" -n 5 -l 1000 -s real -p 5 -t "$T5"
