// How each program starts (dist/bundle/PROGRAM.js, which bin/ runs): it
// compiles its bundle, dist/bundle/PROGRAM.app.js, with V8's code cache
// beside it (PROGRAM.v8cache), which spares V8 parsing the 0.3-0.4 MB
// bundle and compiling every function the program runs. A run writes the
// cache as it exits (when it holds every function the run compiled) if there
// was none, or if the run lasted more than twice as long as the one that
// made it (a push compiles more than `--version` did): after a few runs on a
// machine it holds what a push runs and stays as it is. A push starts two
// programs one after the other (the master, then a catcher on each target):
// from their caches, a one-file push ends a tenth sooner on the benchmark
// machine (bench/RESULTS.md).
//
// The cache is code that V8 runs without checking it, so it is trusted as
// the bundle is and no further: read only where the owner of the bundle's
// directory made it (and no one else may write it), only for the bundle's
// exact bytes (a SHA-256 of the source and one of the data, in its header:
// a rebuilt, truncated or damaged cache is ignored), and written only by a
// process running as that owner, through a new file renamed into place. V8
// itself rejects a cache of another V8 version or other flags; a program
// started with V8 or Node flags (--no-lazy, --cpu-prof, NODE_OPTIONS) runs
// without one and writes none, so they do not take turns rewriting it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const MAGIC = Buffer.from('mrsync-v8cache-1\n');
// the magic, SHA-256 of the source, SHA-256 of the data, the maker's run time (ms, float64)
const HEADER = MAGIC.length + 72;

const sha256 = (b: Buffer | string): Buffer => crypto.createHash('sha256').update(b).digest();

export interface Cache { data: Buffer; madeAfterMs: number }

/** The cache in file if it holds one made for source by dir's owner, else undefined. */
export function readCache(file: string, dirUid: number, sourceHash: Buffer): Cache | undefined {
  let fd = -1;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== dirUid || (st.mode & 0o022) !== 0 || st.size <= HEADER || st.size > 64 << 20) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    if (fs.readSync(fd, buf, 0, st.size, 0) !== st.size) return undefined;
    const data = buf.subarray(HEADER);
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    if (!buf.subarray(MAGIC.length, MAGIC.length + 32).equals(sourceHash)) return undefined;
    if (!buf.subarray(MAGIC.length + 32, MAGIC.length + 64).equals(sha256(data))) return undefined;
    return { data, madeAfterMs: buf.readDoubleLE(MAGIC.length + 64) };
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** Put a cache of data for source, made after madeAfterMs of run, at file: a new file (never one that exists, nor through a link) renamed over it. Errors are ignored. */
export function writeCache(file: string, sourceHash: Buffer, data: Buffer, madeAfterMs: number): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  const ms = Buffer.alloc(8);
  ms.writeDoubleLE(madeAfterMs);
  try {
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, sourceHash, sha256(data), ms, data]), { flag: 'wx', mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch {
    try { fs.unlinkSync(tmp); } catch { /* not made */ }
  }
}

/** The oldest Node.js major version the programs run on (package.json engines). */
export const NODE_MIN = 20;

/** Run dir/PROGRAM.app.js in this process (with its own module, require, file name and directory), compiled from its code cache where there is a good one. */
export function start(program: string, dir: string): void {
  // an older node on a target (the distribution's) would fail somewhere inside, in its own words: said here, in one line
  if (Number(process.versions.node.split('.')[0]) < NODE_MIN) {
    process.stderr.write(`${program}: needs Node.js ${NODE_MIN} or newer; the node on the PATH (${process.execPath}) is ${process.version}\n`);
    process.exit(4);
  }
  const file = path.join(dir, `${program}.app.js`);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    // an install or build cut short: said as bin/ says a missing build
    process.stderr.write(`${program}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e}): rebuild or reinstall (npm install)\n`);
    process.exit(4);
  }
  const cacheFile = path.join(dir, `${program}.v8cache`);
  const flagless = process.execArgv.length === 0 && !process.env.NODE_OPTIONS;
  let dirUid = -1;
  try { dirUid = fs.statSync(dir).uid; } catch { /* no cache */ }
  const hash = flagless && dirUid >= 0 ? sha256(bytes) : null; // the file's bytes, not the text encoded again
  const cached = hash ? readCache(cacheFile, dirUid, hash) : undefined;
  const script = new vm.Script(Module.wrap(bytes.toString('utf8')), { filename: file, cachedData: cached?.data });
  if (hash && process.geteuid?.() === dirUid) {
    const usable = cached !== undefined && !script.cachedDataRejected;
    process.once('exit', () => {
      const ms = process.uptime() * 1000;
      if (!usable || ms > 2 * cached.madeAfterMs) writeCache(cacheFile, hash, script.createCachedData(), ms);
    });
  }
  const mod = new Module(file);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(d: string): string[] })._nodeModulePaths(dir);
  (script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, Module.createRequire(file), mod, file, dir);
}
