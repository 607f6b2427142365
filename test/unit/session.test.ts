// The session header (wire/session.ts): its version, and what a catcher refuses in it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SESSION_VERSION, validateSession } from '../../src/wire/session';
import { validateRttSession } from '../../src/rtt/session';

test('a session header of another protocol version is refused with what to do', () => {
  // version 6: small files go in packs (5: targets answer many files in one Acks datagram); an older catcher
  // would ignore a pack's OPEN and be dropped as silent, so it must say why it refuses instead
  assert.equal(SESSION_VERSION, 6);
  for (const v of [1, 2, 3, 4, 5, 7, undefined]) {
    assert.throws(() => validateSession({ v }), /protocol (1|2|3|4|5|7|\?), this multicatcher 6 \(install the same mrsync version/);
    assert.throws(() => validateRttSession({ v, rtt: true }), /protocol (1|2|3|4|5|7|\?), this rttcatcher 6 \(install the same mrsync version/);
  }
});

test('an rtt session may name the master\'s address (its catcher joins where it reaches it): an address or nothing', () => {
  const ok = { v: SESSION_VERSION, rtt: true, session: 1, key: 'ab'.repeat(32), sender: 1, host: 'h', family: 4, group: '239.255.67.200', port: 7900, ttl: 1, loopback: false, datagram: 1000 };
  assert.equal(validateRttSession(ok).master, undefined);
  assert.equal(validateRttSession({ ...ok, master: '198.18.0.1' }).master, '198.18.0.1');
  assert.equal(validateRttSession({ ...ok, master: 'fd00:198:18::1' }).master, 'fd00:198:18::1');
  for (const master of ['', 'host.example', 7, '198.18.0.1; rm -rf /']) assert.throws(() => validateRttSession({ ...ok, master }), /session: bad master/);
});
