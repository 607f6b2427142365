import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultPageSize, interfaceToward, mtuProblem, parseGroup, parseIntIn, parseRate, parseTargets, routerIn } from '../../src/options';
import { PACKET_OVERHEAD } from '../../src/native';
import { shq, splitCommand } from '../../src/channel/remote';
import { UserError } from '../../src/errors';

test('rates in bits per second with 1000-based suffixes', () => {
  assert.equal(parseRate('--rate', '100m'), 100e6);
  assert.equal(parseRate('--rate', '1.5g'), 1.5e9);
  assert.equal(parseRate('--rate', '800k'), 800e3);
  assert.equal(parseRate('--rate', '250000'), 250000);
  assert.equal(parseRate('--rate', '200Mbit/s'), 200e6);
  for (const bad of ['', 'fast', '-5m', '1k', '1t', '10 m']) assert.throws(() => parseRate('--rate', bad), (e: Error) => e instanceof UserError && /^--rate must be (a rate in bits per second|between 8k and 100g)/.test(e.message), bad);
});

test('groups: IPv4 224/4 and IPv6 ff00::/8 only', () => {
  assert.deepEqual(parseGroup('239.255.67.92'), { family: 4, group: '239.255.67.92' });
  assert.deepEqual(parseGroup('ff15::4d:5253'), { family: 6, group: 'ff15::4d:5253' });
  for (const bad of ['10.0.0.1', '240.0.0.1', 'fe80::1', 'host', '239.1']) assert.throws(() => parseGroup(bad), (e: Error) => e instanceof UserError && /^-A .* is not (an IPv[46] multicast group|an IP address)/.test(e.message), bad);
});

test('integers in range', () => {
  assert.equal(parseIntIn('-P', '8888', 2, 65535), 8888);
  for (const bad of ['0', '70000', '-1', '1.5', 'x', '']) assert.throws(() => parseIntIn('-P', bad, 2, 65535), (e: Error) => e instanceof UserError && /^-P must be (between 2 and 65535|a whole number)/.test(e.message), bad);
});

test('page size fits the MTU', () => {
  assert.equal(defaultPageSize(4, 1500), 1449);
  assert.equal(defaultPageSize(6, 1500), 1429);
  assert.equal(defaultPageSize(4, 9000), 8949);
});

test('target lists: file with comments and blank lines, or a comma list', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-unit-'));
  try {
    const f = path.join(d, 'targets.list');
    fs.writeFileSync(f, '# lab\nh1\n\n  h2  # second\nh3\n');
    assert.deepEqual(parseTargets(f), ['h1', 'h2', 'h3']);
    fs.writeFileSync(f, '# nothing\n\n');
    assert.throws(() => parseTargets(f), /names no hosts/);
    assert.throws(() => parseTargets(path.join(d, 'missing.list')), /cannot read target list/);
    assert.deepEqual(parseTargets('a,b, c'), ['a', 'b', 'c']);
    assert.throws(() => parseTargets('a,a'), /twice/);
    assert.throws(() => parseTargets('-oProxyCommand=x'), /bad host name/);
    assert.throws(() => parseTargets('a;b'), /bad host name/);
    assert.throws(() => parseTargets(','), /names no hosts/);
  } finally {
    fs.rmSync(d, { recursive: true });
  }
});

test('remote shell splitting and quoting', () => {
  assert.deepEqual(splitCommand('ssh -p 2222 -o "Batch Mode=yes"'), ['ssh', '-p', '2222', '-o', 'Batch Mode=yes']);
  assert.deepEqual(splitCommand("ssh ''"), ['ssh', '']);
  assert.throws(() => splitCommand('ssh "x'), /unbalanced quote in remote shell command/);
  assert.equal(shq('/usr/bin/multicatcher'), '/usr/bin/multicatcher');
  assert.equal(shq("/opt/my dir/it's"), `'/opt/my dir/it'\\''s'`);
});

test('-m: @file, a directory, and a name that ends like a file but is not one are not taken for hosts', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mrsync-unit-'));
  const cwd = process.cwd();
  try {
    process.chdir(d);
    fs.writeFileSync('hosts.txt', 'h1\nh2\n');
    assert.deepEqual(parseTargets('@hosts.txt'), ['h1', 'h2']);
    assert.deepEqual(parseTargets('hosts.txt'), ['h1', 'h2']);                 // an existing file, no '/'
    assert.throws(() => parseTargets('@missing'), /cannot read target list missing/);
    assert.throws(() => parseTargets('targets.list'), /target list targets\.list: no such file \(a host named so: write "targets\.list,"\)/);
    assert.throws(() => parseTargets('TARGETS.TXT'), /no such file/);
    assert.deepEqual(parseTargets('targets.list,'), ['targets.list']);        // the documented way to a host named so
    assert.deepEqual(parseTargets('web1.example.com'), ['web1.example.com']);  // a host name is not mistaken for a file
    assert.deepEqual(parseTargets('root@web1'), ['root@web1']);
    // a list longer than a file name may be (255 bytes) is a list, not an error
    const many = Array.from({ length: 200 }, (_, i) => `t${i + 1}`);
    assert.deepEqual(parseTargets(many.join(',')), many);
    fs.mkdirSync('lists');
    assert.throws(() => parseTargets('lists'), /target list lists is a directory/);
    assert.throws(() => parseTargets('@lists'), /is a directory/);
  } finally {
    process.chdir(cwd);
    fs.rmSync(d, { recursive: true });
  }
});

test('a catcher joins where it reaches the master: the interface holding the route\'s source address, or none (by route) where there is no route', () => {
  // the loopback: a master on this machine's 127.0.0.1 is reached through lo
  assert.equal(interfaceToward(4, '127.0.0.1', 8887), 'lo');
  // an own address of another interface, as with -L (a catcher on the master itself): that interface, not lo
  const other = Object.entries(os.networkInterfaces()).find(([name, a]) => name !== 'lo' && a?.some((x) => x.family === 'IPv4'));
  if (other) assert.equal(interfaceToward(4, other[1]!.find((x) => x.family === 'IPv4')!.address, 8887), other[0]);
  // no route (a link-local IPv6 address without its interface): join by route, as before
  assert.equal(interfaceToward(6, 'fe80::1', 8887), '');
  assert.equal(interfaceToward(4, 'not an address', 8887), '');
});

test('a catcher refuses datagrams bigger than its interface\'s MTU, naming the size that fits; an MTU it cannot read refuses nothing', () => {
  const lo = Number(fs.readFileSync('/sys/class/net/lo/mtu', 'utf8'));
  const page = (udp: number) => ({ option: '--page-size', now: udp - PACKET_OVERHEAD });
  assert.equal(mtuProblem(4, 'lo', lo - 28, page(lo - 28)), null, 'an IPv4 packet of the MTU exactly');
  assert.equal(mtuProblem(4, 'lo', lo - 27, page(lo - 27)),
    `the master's datagrams (${lo + 1} bytes with their IP and UDP headers) do not fit this target's MTU (${lo} on lo): --page-size ${lo - 28 - PACKET_OVERHEAD} or less fits`);
  assert.match(mtuProblem(6, 'lo', lo - 28, page(lo - 28)) ?? '', new RegExp(`--page-size ${lo - 48 - PACKET_OVERHEAD} or less fits`), 'IPv6: 20 bytes more of header');
  assert.match(mtuProblem(4, 'lo', lo, { option: 'rtt -s', now: lo }) ?? '', new RegExp(`: rtt -s ${lo - 28} or less fits`));
  assert.equal(mtuProblem(4, 'no-such-if0', 60000, page(60000)), null);
  assert.equal(mtuProblem(4, '', 70000, page(70000)), null);
  assert.equal(mtuProblem(4, '../../lo', 70000, page(70000)), null, 'a name, not a path');
});

test('routerIn: the router a host reaches an address through, from its routing table as /proc prints it; null on a connected subnet', () => {
  // default via 198.18.0.1 on eth0; 198.18.0.0/15 connected; 10.9.0.0/16 via 198.18.0.7; a route that is down
  const v4 = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010012C6\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t000012C6\t00000000\t0001\t0\t0\t0\t0000FEFF\t0\t0\t0',
    'eth0\t0000090A\t070012C6\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'eth0\t0000090B\t090012C6\t0002\t0\t0\t0\t0000FFFF\t0\t0\t0',
  ].join('\n');
  assert.equal(routerIn(4, '198.19.200.2', v4), null, 'on the connected /15');
  assert.equal(routerIn(4, '10.9.3.4', v4), '198.18.0.7', 'the longest prefix wins over the default route');
  assert.equal(routerIn(4, '11.9.3.4', v4), '198.18.0.1', 'a route that is down is passed over: the default');
  assert.equal(routerIn(4, '8.8.8.8', ''), null, 'no table');
  // fd00:198:18::/64 connected; fd00:77::/32 via fd00:198:18::9; default via fe80::1
  const z = '00000000000000000000000000000000';
  const v6 = [
    `fd000198001800000000000000000000 40 ${z} 00 ${z} 00000100 00000001 00000000 00000001     eth0`,
    `fd000077000000000000000000000000 20 ${z} 00 fd000198001800000000000000000009 00000400 00000001 00000000 00000003     eth0`,
    `${z} 00 ${z} 00 fe800000000000000000000000000001 00000400 00000003 00000000 00000003     eth0`,
  ].join('\n');
  assert.equal(routerIn(6, 'fd00:198:18::1', v6), null);
  assert.equal(routerIn(6, 'fd00:77:1::5', v6), 'fd00:198:18::9');
  assert.equal(routerIn(6, '2001:db8::1', v6), 'fe80::1');
  assert.equal(routerIn(6, 'fe80::5', v6), null, 'link-local: on the link');
});
