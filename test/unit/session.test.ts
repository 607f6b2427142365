// The session header (wire/session.ts): its version, and what a catcher refuses in it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SESSION_VERSION, validateSession } from '../../src/wire/session';
import { validateRttSession } from '../../src/rtt/session';

test('a session header of another protocol version is refused with what to do', () => {
  // version 5: targets answer many files in one Acks datagram (4: a target's rate report carries its clock);
  // an older catcher would misread the session, so it must say why it refuses instead
  assert.equal(SESSION_VERSION, 5);
  for (const v of [1, 2, 3, 4, 6, undefined]) {
    assert.throws(() => validateSession({ v }), /protocol (1|2|3|4|6|\?), this multicatcher 5 \(install the same mrsync version/);
    assert.throws(() => validateRttSession({ v, rtt: true }), /protocol (1|2|3|4|6|\?), this rttcatcher 5 \(install the same mrsync version/);
  }
});
