#!/usr/bin/env bash
# The package as users get it: `npm pack` of the project makes a tarball with
# the compiled program and a prebuilt addon for this platform, and nothing of
# the development (tests, benchmarks, sources, TypeScript); `npm install -g`
# of it, with install scripts not allowed (npm's default for global
# installs), gives working mrsync and multicatcher commands without a
# compiler; a push with them to two simulated hosts is exact. Where the
# prebuilt addon does not fit, the program says how to compile it, and
# `npm rebuild` with the install script allowed compiles it.
source "$(dirname "$0")/lib.sh"
trap lan_down EXIT

# pack a copy of the working tree (the pack rebuilds the addon: not in the clone the tests run from)
mkdir -p "$WORK/pkg"
(cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 tar cf - 2>/dev/null) | tar xf - -C "$WORK/pkg"
ln -s "$REPO/node_modules" "$WORK/pkg/node_modules"
(cd "$WORK/pkg" && npm pack --pack-destination "$WORK" > "$WORK/pack.log" 2>&1) || { tail -30 "$WORK/pack.log"; fail "npm pack failed"; }
tgz=$(ls "$WORK"/mrsync-*.tgz)
tar tzf "$tgz" > "$WORK/files"
for f in package/dist/bundle/mrsync.js package/dist/bundle/mrsync.app.js package/dist/bundle/multicatcher.js package/bin/mrsync package/bin/launch.sh \
  package/prebuilds/linux-x64/node.napi.glibc.node package/binding.gyp package/native/pageloop.cc package/README.md; do
  grep -qx "$f" "$WORK/files" || fail "the tarball lacks $f"
done
if grep -E '^package/(test|bench|\.ci|src|dist/src|dist/test)/|\.ts$|\.v8cache$' "$WORK/files"; then fail "the tarball carries development files (or a code cache)"; fi
size=$(stat -c %s "$tgz")
echo "tarball: $(wc -l < "$WORK/files") files, $size bytes"
node -e '
  const p = JSON.parse(require("child_process").execFileSync("tar", ["xzOf", process.argv[1], "package/package.json"]));
  const bad = Object.keys(p.dependencies).filter((d) => /^(typescript|@types\/|node-gyp$|fast-check)/.test(d));
  if (bad.length) { console.error("development packages as dependencies:", bad.join(", ")); process.exit(1); }
' "$tgz" || fail "package.json"

# install as a user would (scripts not allowed), from npm's cache
PREFIX="$WORK/prefix"
npm install -g --prefix "$PREFIX" --prefer-offline --no-audit --no-fund "$tgz" > "$WORK/install.log" 2>&1 \
  || { cat "$WORK/install.log"; fail "npm install -g of the tarball failed"; }
PKG="$PREFIX/lib/node_modules/mrsync"
[ ! -e "$PKG/build" ] || fail "the install compiled the addon (the prebuilt one was not used)"
du -sh "$PKG"
ver=$("$PREFIX/bin/mrsync" --version) || fail "installed mrsync --version failed"
[ "$ver" = "$(node -p "require('$REPO/package.json').version") (protocol 6)" ] || fail "installed mrsync --version: $ver"
"$PREFIX/bin/multicatcher" --version > /dev/null || fail "installed multicatcher --version failed"

targets_up 2
make_tree "$SRC"
set +e
ip netns exec "${PFX}m" timeout 120 "$PREFIX/bin/mrsync" -r "$NSRSH" --remote-path "$PREFIX/bin/multicatcher" \
  -m t1,t2 -s "$SRC" -t "$DST" > "$WORK/out" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$WORK/out"; fail "a push with the installed commands: exit $rc"; }
for i in 1 2; do verify "$SRC" "$(disk t$i)"; done
# the programs' first runs left their code caches in the installed package, for the next runs to start from (src/boot.ts)
for p in mrsync multicatcher; do
  [ "$(stat -c %U:%a "$PKG/dist/bundle/$p.v8cache" 2>/dev/null)" = root:644 ] || fail "no code cache for $p in the installed package"
done

# no prebuilt addon fits (LIBC=musl makes node-gyp-build look for one for musl): one line, exit 4; then compile it
set +e
LIBC=musl "$PREFIX/bin/mrsync" --version > "$WORK/nofit" 2>&1
rc=$?
set -e
cat "$WORK/nofit"
[ "$rc" = 4 ] && [ "$(wc -l < "$WORK/nofit")" = 1 ] && grep -q 'npm rebuild -g mrsync --allow-scripts=mrsync' "$WORK/nofit" \
  || fail "an addon that does not load: not one line saying how to compile it (exit $rc)"
LIBC=musl npm rebuild -g --prefix "$PREFIX" mrsync --allow-scripts=mrsync > "$WORK/rebuild.log" 2>&1 \
  || { cat "$WORK/rebuild.log"; fail "npm rebuild with the install script allowed failed"; }
[ -f "$PKG/build/Release/mrsync_native.node" ] || fail "npm rebuild did not compile the addon"
[ "$(LIBC=musl "$PREFIX/bin/mrsync" --version)" = "$ver" ] || fail "the compiled addon does not load"
echo PASS
