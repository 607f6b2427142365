# Shared topology for the end-to-end scenarios: a simulated LAN of network
# namespaces on 198.18.0.0/15. One "switch" namespace holds a bridge; the
# master and every target are namespaces with one veth each into it. Each
# target also has a private mount namespace (held by a sleeping process) in
# which its own directory is bind-mounted over the destination path, so all
# targets can use the same path. The rsh stand-in (nsrsh) enters a target's
# namespaces by that holder's pid. Nothing here touches the root namespace's
# interfaces, and lan_down (trap EXIT) removes everything.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
MRSYNC="${MRSYNC:-$REPO/bin/mrsync}"
PFX=${PFX:-mr$$}
WORK=${WORK:-$(mktemp -d /tmp/mrsync-e2e.XXXXXX)}
export MRSYNC_TEST_HOSTS="$WORK/hosts"
# the rates pushes settle at are kept per test, not in root's cache: every test starts from the default
export XDG_CACHE_HOME="$WORK/cache"
mkdir -p "$MRSYNC_TEST_HOSTS"
NSRSH="$E2E_DIR/nsrsh"
HOLDERS=()
NAMESPACES=()
# a signal ends the script through exit, so the EXIT trap (lan_down) still runs
trap 'exit 143' TERM INT HUP

lan_down() {
  local rc=$?
  set +e
  for p in "${HOLDERS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  for p in "${HOLDERS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  for ns in "${NAMESPACES[@]:-}"; do [ -n "$ns" ] && ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  for ns in "${NAMESPACES[@]:-}"; do [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null; done
  if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; fi
  return $rc
}

# lan_up N: switch, master (198.18.0.1) and N targets t1..tN (198.18.0.11...)
lan_up() {
  local n=$1 i
  ip netns add "${PFX}sw"; NAMESPACES+=("${PFX}sw")
  ip -n "${PFX}sw" link add br0 type bridge
  ip -n "${PFX}sw" link set br0 type bridge mcast_snooping 0
  ip -n "${PFX}sw" link set br0 up
  # a switch does not run the host's firewall on the frames it forwards
  # (bridge netfilter, on by default where br_netfilter is loaded, costs
  # CPU per frame per port: every tool alike, but this 2-core machine is the limit)
  ip netns exec "${PFX}sw" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
  add_host m 198.18.0.1 fd00:198:18::1
  for i in $(seq 1 "$n"); do add_host "t$i" "198.18.0.$((10 + i))" "fd00:198:18::$((10 + i))"; done
}

# add_host NAME IPV4 IPV6
add_host() {
  local name=$1 v4=$2 v6=$3 ns="${PFX}$1"
  ip netns add "$ns"; NAMESPACES+=("$ns")
  ip link add "${PFX}$name" type veth peer name eth0 netns "$ns"
  ip link set "${PFX}$name" netns "${PFX}sw"
  ip -n "${PFX}sw" link set "${PFX}$name" master br0 up
  ip -n "$ns" link set lo up
  # a GSO batch (mrsync sends pages with UDP_SEGMENT) leaves as one frame per
  # datagram, as a NIC cuts it in hardware (USO) or the kernel before a NIC
  # without USO: the simulated switch, loss and targets see real frames
  ip -n "$ns" link set dev eth0 gso_max_segs 1
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$v4/15" brd + dev eth0
  ip -n "$ns" -6 addr add "$v6/64" dev eth0 nodad
  ip -n "$ns" route add 224.0.0.0/4 dev eth0
  echo "$v4" > "$MRSYNC_TEST_HOSTS/$name.addr"
}

# host_mounts NAME DSTPATH: give NAME its own directory at DSTPATH
# (private mount namespace); DSTPATH must exist on this machine.
host_mounts() {
  local name=$1 dst=$2 own="$WORK/disk-$1"
  mkdir -p "$own"
  ip netns exec "${PFX}$name" unshare -m --propagation private \
    sh -c "mount --bind '$own' '$dst' && echo ok > '$MRSYNC_TEST_HOSTS/$name.mnt' && exec sleep 100000" &
  local pid=$!
  HOLDERS+=("$pid")
  local tries=0
  until [ -s "$MRSYNC_TEST_HOSTS/$name.mnt" ]; do
    tries=$((tries + 1)); [ $tries -lt 100 ] || { echo "holder for $name did not start" >&2; return 1; }
    sleep 0.05
  done
  # the pid of the sleep inside the new namespaces
  local child
  child=$(pgrep -P "$pid" sleep || true)
  [ -n "$child" ] || child=$pid
  echo "$child" > "$MRSYNC_TEST_HOSTS/$name.pid"
  echo "$own"
}

# bench_target NAME DSTPATH TMPFS_OPTS [LINK_MBIT]: for benchmarks, NAME's
# destination is its own tmpfs (this VM's ext4 takes ~0.7 ms per file create,
# which would swamp the network figures of every tool alike), and its switch
# port is shaped to LINK Mbit/s if given
bench_target() {
  host_mounts "$1" "$2" > /dev/null
  nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/$1.pid")" -m mount -t tmpfs -o "$3" tmpfs "$2"
  if [ -n "${4:-}" ]; then shape "${PFX}sw" "${PFX}$1" "$4"; fi
}

# node_pids NAME WORD: the Node.js processes in host NAME's network namespace whose command line
# has WORD (mrsync, multicatcher): a program itself, not the shell or remote shell that started it
node_pids() { ip netns pids "${PFX}$1" | xargs -r ps -o pid=,args= -p | awk -v w="$2" '$2 ~ /node$/ && index($0, w) {print $1}'; }

# in_t I CMD...: CMD in target tI's network and mount namespaces (where its tmpfs is)
in_t() { local i=$1; shift; nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/t$i.pid")" -n -m "$@"; }

# shape NETNS DEV LINK_MBIT: tbf at LINK on DEV's egress
shape() { ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "${3}mbit" burst 64kb latency 50ms; }

# the directory that target NAME sees at its destination path
disk() { echo "$WORK/disk-$1"; }

# loss NAME PERMILLE [PORT]: drop that share of incoming UDP to PORT at NAME
loss() {
  local ns="${PFX}$1" per=$2 port=${3:-8888}
  ip netns exec "$ns" nft add table inet loss
  ip netns exec "$ns" nft add chain inet loss in '{ type filter hook input priority 0; }'
  ip netns exec "$ns" nft add rule inet loss in udp dport "$port" numgen random mod 1000 '<' "$per" counter drop
}

# port_closed NAME PORT: NAME's firewall drops the UDP arriving at PORT (counted), as a
# distribution's default firewall does to a port not opened; port_open NAME undoes it
port_closed() {
  local ns="${PFX}$1"
  ip netns exec "$ns" nft add table inet closed
  ip netns exec "$ns" nft add chain inet closed in '{ type filter hook input priority 0; }'
  ip netns exec "$ns" nft add rule inet closed in udp dport "$2" counter drop
}
port_open() { ip netns exec "${PFX}$1" nft delete table inet closed; }

loss_count() {
  ip netns exec "${PFX}$1" nft list chain inet loss in 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p' | head -1
}

# run_master ARGS...: mrsync in the master namespace, bounded in time
run_master() {
  ip netns exec "${PFX}m" timeout 300 "$MRSYNC" -r "$NSRSH" "$@"
}

# targets_up N: the LAN with targets t1..tN, $SRC and $DST made, and every
# target given its own directory at $DST
targets_up() {
  lan_up "$1"
  SRC="$WORK/src"; DST="$WORK/dst"
  mkdir -p "$SRC" "$DST"
  local i
  for i in $(seq 1 "$1"); do host_mounts "t$i" "$DST" >/dev/null; done
}

# run_rc OUT ARGS...: run_master with its output in OUT and its exit status
# in RC, without stopping the script
run_rc() {
  local out=$1
  shift
  set +e
  run_master "$@" > "$out" 2>&1
  RC=$?
  set -e
}

# await_temp NAME [FILE]: wait (at most 10 s) until target NAME has a catcher
# temp file (for FILE, if given) at the top of its destination: pages for it
# are flowing
await_temp() {
  local pat='\.mrsync\.'
  [ -n "${2:-}" ] && pat="^\.$(printf '%s' "$2" | sed 's/\./\\./g')\.mrsync\."
  local _
  for _ in $(seq 1 200); do ls -a "$(disk "$1")" | grep -q "$pat" && return 0; sleep 0.05; done
  echo "await_temp: no temp file on $1 after 10 s" >&2
  return 1
}

# verify SRC DIR: DIR is an exact copy of SRC (content, perms, times, links,
# and nothing more: --delete itemizes what DIR has and SRC does not)
verify() {
  local out
  out=$(rsync -aHn --delete --itemize-changes --checksum "$1/" "$2/")
  if [ -n "$out" ]; then
    echo "verify $2 against $1 FAILED:" >&2
    echo "$out" >&2
    return 1
  fi
}

# verify_has SRC DIR: DIR holds an exact copy of everything in SRC (it may hold more)
verify_has() {
  local out
  out=$(rsync -aHn --itemize-changes --checksum "$1/" "$2/")
  if [ -n "$out" ]; then
    echo "verify_has $2 against $1 FAILED:" >&2
    echo "$out" >&2
    return 1
  fi
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# ssh_keys: a client key ($WORK/id, authorized for root) and a host key for
# the sshd of ssh_up; SSH: the client command for mrsync -r
ssh_keys() {
  command -v sshd >/dev/null || fail "sshd not installed (apt-get install openssh-server)"
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
  cp "$WORK/id.pub" "$WORK/authorized_keys"
  SSH="ssh -i $WORK/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5 -o LogLevel=ERROR"
}

# ssh_up I [CONFIG_LINE]: a real sshd in target tI's namespaces (after its
# host_mounts) on its address, key login as root, CONFIG_LINE added to its
# config; waits (bounded) until it answers
ssh_up() {
  local i=$1 _ ok=0
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
${2:-}
CFG
  nsenter -t "$(cat "$MRSYNC_TEST_HOSTS/t$i.pid")" -n -m /usr/sbin/sshd -f "$WORK/sshd_config.t$i" -E "$WORK/sshd.t$i.log"
  for _ in $(seq 1 50); do
    if ip netns exec "${PFX}m" $SSH "198.18.0.$((10 + i))" true 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { cat "$WORK/sshd.t$i.log" >&2; fail "sshd on t$i does not answer"; }
}

# mixed_tree DIR N: DIR made anew with N entries in 39 directories, drawn
# from $RANDOM (seed it for the same tree): small files (up to 8 KB) next to
# bigger ones (up to 1.3 MB), empty files, symlinks, hardlinks. Call it
# directly, not in $(...): RANDOM in a subshell is seeded anew.
mixed_tree() {
  local dir=$1 n=$2 k d
  rm -rf "$dir"; mkdir -p "$dir"
  for k in $(seq 1 "$n"); do
    d="$dir/d$((k % 13))/e$((k % 3))"; mkdir -p "$d"
    case $((RANDOM % 10)) in
      0) head -c $((RANDOM * 40)) /dev/urandom > "$d/f$k" ;;
      1) : > "$d/f$k" ;;
      2) ln -s "f$((k - 1))" "$d/l$k" ;;
      3) if [ -f "$d/f$((k - 1))" ]; then ln "$d/f$((k - 1))" "$d/h$k"; else echo x > "$d/f$k"; fi ;;
      *) head -c $((RANDOM % 8000 + 1)) /dev/urandom > "$d/f$k" ;;
    esac
  done
}

# make_tree DIR: every entry type the engine carries
make_tree() {
  local d=$1
  mkdir -p "$d/sub/deeper" "$d/empty-dir" "$d/-dash dir"
  head -c 300000 /dev/urandom > "$d/big.bin"
  head -c 1449 /dev/urandom > "$d/one-page.bin"
  head -c 1450 /dev/urandom > "$d/page-and-a-byte.bin"
  for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom > "$d/sub/f$i"; done
  echo "hello" > "$d/sub/deeper/hello.txt"
  : > "$d/empty-file"
  printf 'space' > "$d/name with spaces"
  printf 'newline' > "$d/new
line"
  printf 'latin1' > "$d/$(printf 'caf\351')"
  printf 'dash' > "$d/-leading-dash"
  printf 'dash' > "$d/-dash dir/--x"
  ln -s sub/deeper/hello.txt "$d/link-to-hello"
  ln -s /nonexistent/abs "$d/dangling-abs"
  ln "$d/sub/f3" "$d/hardlink-to-f3"
  ln "$d/sub/f3" "$d/sub/deeper/hardlink2-to-f3"
  chmod 0640 "$d/sub/f1"; chmod 0755 "$d/sub/f2"; chmod 0700 "$d/sub/deeper"
  chmod 4755 "$d/sub/f4"
  touch -d '2001-12-20 00:51:46.123456789' "$d/sub/f5"
  touch -h -d '2005-01-01 10:00:00.5' "$d/link-to-hello"
  touch -d '2010-06-01 12:00:00.25' "$d/sub/deeper"
  chown 1234:5678 "$d/sub/f6"
}
