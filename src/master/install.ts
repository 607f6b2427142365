// mrsync --install: put this mrsync on every target through the remote
// shell, at the same path, so that the master finds multicatcher there. Per
// target, at most fanOut at once: a probe (Node.js 20+ there? which mrsync,
// if any?), then, unless it already has this version, the package streamed
// as a tar over the remote shell's stdin into a new directory beside the
// final one, checked there (its multicatcher --version loads the addon and
// must say this version), and only then renamed into place. Targets need
// Node.js 20+ and tar; no npm, registry or compiler.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NODE_MIN } from '../boot';
import { shq } from '../channel/remote';
import { VERSION } from '../cli/catcher-cli';
import { UserError } from '../errors';

export interface InstallOptions {
  hosts: string[];
  rsh: string[];
  dir: string;      // the package's directory, here and on every target
  fanOut: number;   // remote shells at once
  waitMs: number;   // each remote step's budget
}

export type InstallState = 'INSTALLED' | 'UP_TO_DATE' | 'FAILED' | 'UNREACHABLE';

export interface InstallResult {
  host: string;
  state: InstallState;
  detail: string;          // what was done, or why not
  node: string | null;     // the target's Node.js version
  was: string | null;      // the mrsync it had (its multicatcher --version), or null
}

/** The directories and files of the package a target needs, relative to root: the program, the addon, the runtime dependencies. */
export function packageFiles(root: string): string[] {
  const out = ['package.json', 'bin', 'dist/bundle', 'binding.gyp'];
  for (const f of fs.readdirSync(path.join(root, 'native'))) if (/\.(cc|h)$/.test(f)) out.push(`native/${f}`);
  if (fs.existsSync(path.join(root, 'build', 'Release', 'mrsync_native.node'))) out.push('build/Release/mrsync_native.node');
  if (fs.existsSync(path.join(root, 'prebuilds'))) out.push('prebuilds');
  for (const dep of dependencyDirs(root)) out.push(path.relative(root, dep));
  for (const f of out) if (!fs.existsSync(path.join(root, f))) throw new UserError(`--install: ${path.join(root, f)} is missing (an incomplete build?)`);
  return out;
}

/** The directories of root's runtime dependencies and theirs, found as Node finds them (node_modules upward, from the package that needs one). */
function dependencyDirs(root: string): string[] {
  const seen = new Set<string>();
  const visit = (pkgDir: string): void => {
    const deps = (JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {};
    for (const name of Object.keys(deps)) {
      let found: string | null = null;
      for (let d = pkgDir; ; d = path.dirname(d)) {
        const cand = path.join(d, 'node_modules', name);
        if (fs.existsSync(path.join(cand, 'package.json'))) { found = cand; break; }
        if (path.dirname(d) === d || path.relative(root, d).startsWith('..')) break;
      }
      if (!found) throw new UserError(`--install: dependency ${name} of ${pkgDir} not found under ${root} (run npm install there)`);
      if (seen.has(found)) continue;
      seen.add(found);
      visit(found);
    }
  };
  visit(root);
  return [...seen].sort();
}

/** The package as a gzipped tar (tar on this machine). */
export function packTar(root: string, files: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-czf', '-', '-C', root, '--exclude=.package-lock.json', '--', ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    tar.stdout.on('data', (c: Buffer) => chunks.push(c));
    tar.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`tar: ${err.trim() || `exit ${code}`}`))));
  });
}

/** Run rsh host command, input on its stdin, within ms: its exit status (null: killed at the deadline) and output. */
function remote(rsh: string[], host: string, command: string, input: Buffer | null, ms: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(rsh[0], [...rsh.slice(1), host, command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out = (out + d).slice(-65536); });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-4096); });
    child.stdin.on('error', () => { /* the exit says it */ });
    child.on('error', (e) => { err += `cannot run ${rsh[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`; });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: signal ? null : code, out, err: err.trim() }); });
    child.stdin.end(input ?? undefined);
  });
}

/** key=value lines a remote step printed. */
function fields(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split('\n')) {
    const i = l.indexOf('=');
    if (l.startsWith('mrsync-') && i > 0) m.set(l.slice(7, i), l.slice(i + 1));
  }
  return m;
}

const lastLine = (s: string): string => s.split('\n').filter(Boolean).slice(-1)[0] ?? '';

/** One target: probe, then install unless it has this version. */
async function installOne(o: InstallOptions, host: string, tar: () => Promise<Buffer>): Promise<InstallResult> {
  const dir = shq(o.dir);
  const probe = `v=$(node --version 2>/dev/null) || v=none; echo "mrsync-node=$v"; ` +
    `if [ -e ${dir}/bin/multicatcher ]; then c=$(${dir}/bin/multicatcher --version 2>&1 | tail -n 1) || c="does not run: $c"; else c=none; fi; echo "mrsync-have=$c"`;
  const p = await remote(o.rsh, host, probe, null, o.waitMs);
  const f = fields(p.out);
  if (p.code === null) return { host, state: 'UNREACHABLE', detail: `no answer within ${o.waitMs / 1000} s`, node: null, was: null };
  if (p.code !== 0 || !f.has('node')) {
    return { host, state: 'UNREACHABLE', detail: `remote shell failed (exit ${p.code})${p.err ? `: ${lastLine(p.err)}` : ''}`, node: null, was: null };
  }
  const node = f.get('node')!;
  const was = f.get('have') === 'none' ? null : f.get('have') ?? null;
  const major = /^v(\d+)\./.exec(node)?.[1];
  if (!major || Number(major) < NODE_MIN) return { host, state: 'FAILED', detail: `Node.js ${NODE_MIN} or newer needed there (found: ${node === 'none' ? 'no node on the remote shell\'s PATH' : node})`, node, was };
  if (was === VERSION) return { host, state: 'UP_TO_DATE', detail: `has ${VERSION}`, node, was };
  // a new directory beside the final one, checked, then renamed into place (the old one removed after)
  const cmd = `set -e; new=${shq(`${o.dir}.mrsync-new`)}; old=${shq(`${o.dir}.mrsync-old`)}; rm -rf "$new" "$old"; mkdir -p "$new"; ` +
    `tar -xzf - -C "$new"; if got=$("$new/bin/multicatcher" --version 2>&1 | tail -n 1) && [ "$got" = ${shq(VERSION)} ]; then :; ` +
    `else echo "mrsync-check=$got"; rm -rf "$new"; exit 3; fi; ` +
    `if [ -e ${dir} ]; then mv ${dir} "$old"; fi; mv "$new" ${dir}; rm -rf "$old"; echo mrsync-done=1`;
  const r = await remote(o.rsh, host, cmd, await tar(), o.waitMs);
  const g = fields(r.out);
  if (g.get('done') === '1') return { host, state: 'INSTALLED', detail: `installed ${VERSION}${was ? ` (had ${was})` : ''}`, node, was };
  const why = g.has('check') ? `the copy does not run there: ${g.get('check')}` : r.code === null ? `no answer within ${o.waitMs / 1000} s` : `exit ${r.code}${r.err ? `: ${lastLine(r.err)}` : ''}`;
  return { host, state: 'FAILED', detail: `install failed: ${why}`, node, was };
}

/** Every target, fanOut at a time; each result as it comes (done), all of them in the order of hosts. */
export async function installAll(o: InstallOptions, done: (r: InstallResult) => void = () => {}): Promise<InstallResult[]> {
  let packed: Promise<Buffer> | null = null;
  const tar = (): Promise<Buffer> => (packed ??= packTar(o.dir, packageFiles(o.dir)));
  packageFiles(o.dir); // what is missing here is said before any remote work
  const results: InstallResult[] = new Array(o.hosts.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.hosts.length) {
      const i = next++;
      results[i] = await installOne(o, o.hosts[i], tar);
      done(results[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.fanOut, o.hosts.length) }, worker));
  return results;
}
