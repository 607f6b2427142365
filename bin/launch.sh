# Sourced by bin/mrsync, bin/multicatcher, bin/rtt and bin/rttcatcher with
# $tool (the program) and $here (bin/, symlinks resolved) set: runs the
# compiled build on the node in PATH (npm install runs node-gyp, tsc and
# esbuild): the program's bundle, one file, which Node loads on about three
# quarters of the CPU that the fifty modules of dist/src it is made of take,
# compiled from V8's code cache where a run before left one (src/boot.ts).
entry="$here/../dist/bundle/$tool.js"
if [ ! -f "$entry" ]; then
  echo "$tool: not built yet: run \"npm install\" in $(cd "$here/.." && pwd)" >&2
  exit 4
fi
# No certificate authorities: mrsync's one TLS channel (the daemon's) is
# pre-shared-key only, and Node reads and parses the bundle that
# NODE_EXTRA_CA_CERTS names as it starts, whatever it runs (90 ms of a 140 ms
# start on the benchmark machine, where it names the system's 140 CAs). The
# catchers a master or a daemon starts inherit the cleaned environment.
unset NODE_EXTRA_CA_CERTS
# node on the PATH, or one line saying not (the master's report adds what to
# do): a target's non-interactive ssh login has a short PATH and reads no
# shell startup file, so a node that nvm put in a home directory is not on
# it. (command -v is the shell's own: no process more per start)
if ! command -v node > /dev/null 2>&1; then
  echo "$tool: node (Node.js 20 or newer) is not on the PATH ($PATH)" >&2
  exit 127
fi
exec node "$entry" "$@"
