// inspectToken lists what a token says, including caveats this code cannot read.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { attenuate, inspectToken } from '../../src/tokens/index.ts';
import { decodeToken, encodeToken } from '../../src/tokens/format.ts';
import { chainCaveat } from '../../src/tokens/signature.ts';
import { NOW_MS, adminToken, newKeyring } from './helpers.ts';

it('lists the key, the token id and every caveat in order', () => {
  const ring = newKeyring();
  const token = attenuate(adminToken(ring), [
    { type: 'apps', apps: ['web'] },
    { type: 'expires', notAfterMs: NOW_MS },
  ]);
  assert.deepEqual(inspectToken(token), {
    keyId: ring.currentId,
    tokenId: 'root1',
    caveats: [
      { type: 'org', org: 'acme' },
      { type: 'apps', apps: ['web'] },
      { type: 'expires', notAfterMs: NOW_MS },
    ],
  });
});

it('shows unreadable caveats instead of hiding them', () => {
  const m = decodeToken(adminToken(newKeyring()));
  const identifier = Buffer.from('[1,"future",{}]');
  const token = encodeToken({ ...m, caveats: [...m.caveats, { identifier }], signature: chainCaveat(m.signature, identifier) });
  assert.deepEqual(inspectToken(token).caveats[1], {
    type: 'unreadable',
    text: '[1,"future",{}]',
    problem: "unknown caveat type 'future'",
  });
});
