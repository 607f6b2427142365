// The session header (wire/session.ts): its version, and what a catcher refuses in it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SESSION_VERSION, validateSession } from '../../src/wire/session';
import { validateRttSession } from '../../src/rtt/session';

test('a session header of another protocol version is refused with what to do', () => {
  // version 4: a target's rate report carries its clock (3: the master's address, signing key and segment
  // hashes in the header and channel); an older catcher would misread the session, so it must say why it
  // refuses instead
  assert.equal(SESSION_VERSION, 4);
  for (const v of [1, 2, 3, 5, undefined]) {
    assert.throws(() => validateSession({ v }), /protocol (1|2|3|5|\?), this multicatcher 4 \(install the same mrsync version/);
    assert.throws(() => validateRttSession({ v, rtt: true }), /protocol (1|2|3|5|\?), this rttcatcher 4 \(install the same mrsync version/);
  }
});
