import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { realTarget } from '../../src/operator/status';
import { progressLine } from '../../src/operator/progress';

const bin = (b: string): string => path.resolve(__dirname, '..', '..', '..', 'bin', b);
// the shims themselves (sh: they run node with NODE_EXTRA_CA_CERTS dropped)
const run = (b: string, ...args: string[]) => spawnSync(bin(b), args, { encoding: 'utf8' });

test('every binary has --help with options, defaults and two examples, and --version', () => {
  const want: Record<string, string[]> = {
    mrsync: ['--machines', '--source', '--target', '--rsh', '--remote-path', '--address', '--port', '--ttl', '--loopback',
      '--interface', '--verbose', '--wait', '--quit', '--remove-first', '--page-size', '--rate', '--status-file', '--log-file',
      '--progress-interval', '--daemon', '--key-file', '--daemon-port', '--max-rate', '--delete', '--backup', '--suffix', '--backup-dir', '--exclude',
      '--include', '--exclude-from', '--list', '--files-from', '--trim', '--checksum', '--dry-run', '(default: "239.255.67.92")', '(default: "8888")', 'bits per second', 'seconds'],
    rtt: ['--machines', '--count', '--size', '--interval', '--timeout', '--rsh', '--remote-path', '--address', '--port', '--ttl',
      '--loopback', '--interface', '--wait', '--verbose', '--json', '(default: "239.255.67.200")', '(default: "7900")', 'milliseconds', '(default: "400")'],
    multicatcher: ['--help', '--version', '--daemon --root DIR --key-file FILE', '--new-key'],
    rttcatcher: ['--help', '--version'],
  };
  for (const [b, opts] of Object.entries(want)) {
    const r = run(b, '--help');
    assert.equal(r.status, 0, `${b} --help exit`);
    const flat = r.stdout.replace(/\s+/g, ' ');
    for (const o of opts) assert.ok(flat.includes(o), `${b} --help lacks ${o}`);
    const ex = r.stdout.split(/Examples[^:]*:/)[1] ?? '';
    assert.ok(ex.split('\n').filter((l) => /^\s+\S/.test(l)).length >= 2, `${b} --help has fewer than two examples`);
    const v = run(b, '--version');
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^\d+\.\d+\.\d+ \(protocol \d+\)\n$/);
  }
});

test('the bin/ wrappers find the build when started through a link (npm install -g), a link to a link, or a bare name', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-bin-'));
  try {
    fs.symlinkSync(bin('mrsync'), path.join(dir, 'mrsync'));                // what npm install -g makes
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync(path.join('..', 'mrsync'), path.join(dir, 'sub', 'm')); // relative, to a link
    for (const p of [path.join(dir, 'mrsync'), path.join(dir, 'sub', 'm')]) {
      const v = spawnSync(p, ['--version'], { encoding: 'utf8' });
      assert.equal(v.status, 0, `${p}: ${v.stderr}`);
      assert.match(v.stdout, /^\d+\.\d+\.\d+ \(protocol \d+\)\n$/);
    }
    // sh with the script's bare name, from bin/ itself
    const v = spawnSync('sh', ['multicatcher', '--version'], { cwd: path.dirname(bin('multicatcher')), encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+ \(protocol \d+\)\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('multicatcher --daemon --help lists the daemon options; missing ones are one-line errors', () => {
  const r = run('multicatcher', '--daemon', '--help');
  assert.equal(r.status, 0);
  for (const o of ['--root', '--key-file', '--listen', '--port', '--max-sessions', '--new-key', '(default: "8731")']) {
    assert.ok(r.stdout.includes(o), `multicatcher --daemon --help lacks ${o}`);
  }
  const noRoot = run('multicatcher', '--daemon', '--key-file', '/nonexistent');
  assert.equal(noRoot.status, 1);
  assert.equal(noRoot.stderr, 'multicatcher: --daemon needs --root DIR\n');
  const noKey = run('multicatcher', '--daemon', '--root', '/tmp');
  assert.equal(noKey.status, 1);
  assert.match(noKey.stderr, /^multicatcher: --daemon needs --key-file FILE/);
  const m = run('mrsync', '-m', 'h1', '-s', '/tmp', '--daemon');
  assert.equal(m.status, 1);
  assert.equal(m.stderr, 'mrsync: --daemon needs --key-file FILE\n');
  const k = run('mrsync', '-m', 'h1', '-s', '/tmp', '--key-file', '/tmp/x');
  assert.equal(k.status, 1);
  assert.equal(k.stderr, 'mrsync: --key-file is for --daemon targets\n');
});

test('a bad option is one line and exit 1, never a stack trace', () => {
  for (const b of ['mrsync', 'rtt']) {
    const r = run(b, '-m', 'h1', '-s', '/tmp', '--no-such-option');
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^${b}: unknown option`));
  }
});

test('bad values are one line naming the problem, exit 1, before any remote work', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-cli-'));
  try {
    fs.mkdirSync(path.join(d, 'src'));
    const src = path.join(d, 'src');
    // -r false (but with --daemon): were any of these to reach the remote work, it would fail another way (exit 3, not 1)
    const cases: Array<[string[], RegExp]> = [
      [['-v', '-m', 'h1', '-s', src], /^mrsync: -v needs a value \(it took the option '-m' as one\)$/],
      [['-m', 'h1', '-s', ''], /^mrsync: -s is empty/],
      [['-m', 'h1', '-s', src, '-t', ''], /^mrsync: -t is empty/],
      [['-m', 'targets.list', '-s', src], /^mrsync: target list targets\.list: no such file/],
      [['-m', `@${d}/nope`, '-s', src], /^mrsync: cannot read target list/],
      [['-m', d, '-s', src], /is a directory$/],
      [['-m', 'h1', '-s', src, '--rate', '100m', '--max-rate', '1G'], /^mrsync: --rate fixes the rate; --max-rate caps/],
      [['-m', 'h1', '-s', src, '--rate', '100m', '--max-rate', '1g'], /^mrsync: --rate fixes the rate; --max-rate caps/],
      [['-m', 'h1', '-s', src, '-r', "ssh 'oops"], /^mrsync: -r: unbalanced quote in remote shell command/],
      [['-m', 'h1', '-s', src, '--status-file', d], /^mrsync: --status-file .* is a directory$/],
      [['--daemon', '--key-file', path.join(d, 'k'), '-m', 'h1', '-s', src, '-r', 'false'],
        /^mrsync: -r is for catchers started through a remote shell; --daemon reaches standing daemons over TLS$/],
      [['--daemon', '--key-file', path.join(d, 'k'), '-m', 'h1:9000', '-s', src], /^mrsync: -m h1:9000: with --daemon, give the daemons' port with --daemon-port/],
      [['-m', 'h1'], /^mrsync: required option '-s, --source <dir>' not specified$/],
      [['--install', '-m', 'h1', '-s', src], /^mrsync: --install takes -m, -r, --remote-path, -w, --fan-out and -v \(not --source\)$/],
      [['--install', '-m', 'h1', '--delete'], /\(not --delete\)$/],
      [['--install', '-m', 'h1', '--remote-path', '/opt/x/multicatcher'], /^mrsync: --remote-path \/opt\/x\/multicatcher: with --install it must be an absolute DIR\/bin\/multicatcher/],
      [['--install', '-m', 'h1', '--remote-path', '/opt/x/bin/multicatcher'], /^mrsync: --install puts this package \(.*\) at the same path on the targets; --remote-path names another \(\/opt\/x\)$/],
      [['--install', '-m', 'h1', '--fan-out', '0'], /^mrsync: --fan-out must be between 1 and 256/],
    ];
    const key = run('multicatcher', '--new-key', path.join(d, 'k'));
    assert.equal(key.status, 0, key.stderr);
    for (const [args, want] of cases) {
      const r = spawnSync(bin('mrsync'), args.includes('--daemon') ? args : ['-r', 'false', ...args], { encoding: 'utf8', cwd: d });
      assert.equal(r.status, 1, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), want, args.join(' '));
    }
    // --new-key --help: not a key file named --help
    const nk = spawnSync(bin('multicatcher'), ['--new-key', '--help'], { encoding: 'utf8', cwd: d });
    assert.equal(nk.status, 1);
    assert.match(nk.stderr, /^multicatcher: --new-key needs a file name \(it took '--help' as one\)/);
    assert.equal(fs.existsSync(path.join(d, '--help')), false);
  } finally {
    fs.rmSync(d, { recursive: true });
  }
});

test('progress line wording', () => {
  const line = progressLine({ phase: 'data', seconds: 3, bytesTotal: 10 * 2 ** 20, bytesSent: 5 * 2 ** 20, filesTotal: 4, filesDone: 1,
    targets: 5, complete: 1, behind: 3, dropped: 1 }, 8e6);
  assert.equal(line, 'sending: 5.0 MiB of 10.0 MiB, 8.0 Mbit/s, ETA 6s, files 1/4, targets 1 complete / 3 behind / 1 dropped');
});

test('--status-file through a symlink: written where the link points (as a shell\'s > would), the link kept', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-cli-'));
  try {
    fs.mkdirSync(path.join(d, 'real'));
    fs.symlinkSync('real/status.json', path.join(d, 'link.json'));
    fs.symlinkSync('link.json', path.join(d, 'chain.json'));
    assert.equal(realTarget(path.join(d, 'link.json')), path.join(d, 'real', 'status.json'));
    assert.equal(realTarget(path.join(d, 'chain.json')), path.join(d, 'real', 'status.json'));
    assert.equal(realTarget(path.join(d, 'plain.json')), path.join(d, 'plain.json'));
    fs.symlinkSync('loop.json', path.join(d, 'loop.json'));
    assert.throws(() => realTarget(path.join(d, 'loop.json')), /too many levels of symbolic links/);
  } finally {
    fs.rmSync(d, { recursive: true });
  }
});
