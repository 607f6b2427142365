// A target whose catcher never says it is ready: told apart from one whose
// datagrams do not get through (master/targets.ts silent()), with what to
// check (operator/groups.ts); and the default remote shell, which never prompts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { Targets } from '../../src/master/targets';
import { makeLogger } from '../../src/operator/log';
import { failureHint } from '../../src/operator/groups';
import { DEFAULT_RSH, defaultRsh } from '../../src/cli/common';

test('a catcher never ready: the remote shell said nothing (UNREACHABLE, a prompt?), or the catcher is stuck starting (SILENT); a finishing one silent past -w', async () => {
  const targets = new Targets(makeLogger(0, 'test', undefined, { write: () => true }));
  // a remote shell that says nothing and waits, as ssh at a password prompt on the terminal
  targets.launch({ hosts: ['quiet', 'stuck', 'done'], rsh: ['sh', '-c', 'exec sleep 30', 'rsh'], remotePath: '/nowhere/multicatcher' },
    { line: () => undefined, exit: () => undefined });
  try {
    const [quiet, stuck, done] = targets.list;
    stuck.remote.heard = true; // it said something (a log line), never that it is ready
    const t0 = quiet.stateSince;
    assert.deepEqual(targets.silent(t0 + 4000, 1000), [], 'at least 5 s to start, whatever -w');
    done.state = 'finishing';
    const late = targets.silent(t0 + 7000, 2000).map(([t, why, code]) => [t.host, why, code]);
    assert.deepEqual(late, [
      ['quiet', 'no catcher started within 5 s: the remote shell said nothing', 'UNREACHABLE'],
      ['stuck', 'its catcher started but was not ready within 5 s', 'SILENT'],
      ['done', 'silent for 2 s while finishing', 'SILENT'],
    ]);
    assert.equal(targets.silent(t0 + 21_000, 20_000)[0][1], 'no catcher started within 20 s: the remote shell said nothing', '-w past 5 s: -w');
    assert.match(failureHint('UNREACHABLE', late[0][1]) ?? '', /waits on a prompt .*password.*host key.*"ssh HOST true" works as root and asks nothing/);
    assert.match(failureHint('SILENT', late[1][1]) ?? '', /stuck starting/);
    assert.match(failureHint('SILENT', late[2][1]) ?? '', /datagrams do not get through/);
    assert.match(failureHint('UNREACHABLE', 'no catcher started within 5 s: the daemon said nothing') ?? '', /daemon .* its log/);
    // which way the datagrams stop (master/push.ts silentWhy): the answers to this machine, or the multicast to the target
    assert.match(failureHint('SILENT', 'silent for 60 s: the multicast reaches it (its catcher said so), none of its answers reached UDP port 9000 here') ?? '',
      /^open UDP port 9000 in this machine's firewall/);
    assert.match(failureHint('SILENT', 'silent for 60 s while planning: none of the multicast reached it') ?? '', /^the group's datagrams do not reach it: its firewall \(UDP port -P\)/);
    // one that answered, then stopped: no firewall closes a port half way through a push
    assert.match(failureHint('SILENT', 'silent for 5 s after it had answered') ?? '',
      /^it answered, then stopped: that machine \(hung, overloaded, out of memory/);
    // what bin/ and boot.ts say where node is missing or old, as the report gets it from the remote shell
    assert.match(failureHint('UNREACHABLE', 'remote shell failed (exit 127): multicatcher: node (Node.js 20 or newer) is not on the PATH (/usr/bin:/bin)') ?? '',
      /node is not on the PATH the remote shell's login gets .*nvm/);
    assert.match(failureHint('UNREACHABLE', 'remote shell failed (exit 127): sh: 1: /opt/multicatcher: not found') ?? '', /multicatcher was not found there/);
    assert.match(failureHint('UNREACHABLE', 'remote shell failed (exit 4): multicatcher: needs Node.js 20 or newer; the node on the PATH (/usr/bin/node) is v18.19.0') ?? '',
      /upgrade Node\.js there/);
  } finally {
    targets.abandon();
  }
});

test('the default remote shell is ssh in batch mode (it never prompts); -r and MRSYNC_RSH name another', () => {
  assert.equal(DEFAULT_RSH, 'ssh -o BatchMode=yes');
  const was = process.env.MRSYNC_RSH;
  try {
    delete process.env.MRSYNC_RSH;
    assert.equal(defaultRsh(), DEFAULT_RSH);
    process.env.MRSYNC_RSH = 'rsh';
    assert.equal(defaultRsh(), 'rsh');
  } finally {
    if (was === undefined) delete process.env.MRSYNC_RSH; else process.env.MRSYNC_RSH = was;
  }
  const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'mrsync');
  const env = { ...process.env };
  delete env.MRSYNC_RSH;
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8', env });
  assert.match(help.stdout.replace(/\s+/g, ' '), /\(default: "ssh -o BatchMode=yes"\)/);
});
