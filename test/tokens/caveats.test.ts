// Each caveat type, shown allowing the requests it should and refusing the ones it should not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../src/lib/index.ts';
import { attenuate, verifyToken } from '../../src/tokens/index.ts';
import type { Caveat, TokenRequest } from '../../src/tokens/index.ts';
import { NOW_MS, adminToken, assertRefused, newKeyring, request } from './helpers.ts';

const ring = newKeyring();
const admin = adminToken(ring);

interface Case {
  caveat: Caveat;
  allowed: Partial<TokenRequest>[];
  refused: Partial<TokenRequest>[];
}

const cases: Case[] = [
  {
    caveat: { type: 'org', org: 'acme' },
    allowed: [{ org: 'acme' }],
    refused: [{ org: 'globex' }],
  },
  {
    caveat: { type: 'apps', apps: ['web', 'api'] },
    allowed: [{ app: 'web' }, { app: 'api', action: 'deploy' }],
    refused: [{ app: 'db' }, {}],
  },
  {
    caveat: { type: 'actions', actions: ['read', 'deploy'] },
    allowed: [{ action: 'read' }, { action: 'deploy', app: 'web' }],
    refused: [{ action: 'write' }, { action: 'create' }, { action: 'delete' }],
  },
  {
    caveat: { type: 'machines', machines: ['148ed193b95d89'] },
    allowed: [{ machineId: '148ed193b95d89' }],
    refused: [{ machineId: '3d8d9e1fe23489' }, { app: 'web' }],
  },
  {
    caveat: { type: 'regions', regions: ['ams', 'syd'] },
    allowed: [{ region: 'ams' }, { region: 'syd' }],
    refused: [{ region: 'iad' }, {}],
  },
  {
    caveat: { type: 'registry', repositories: ['acme/web'], actions: ['pull'] },
    allowed: [{ repository: 'acme/web', registryAction: 'pull' }],
    refused: [
      { repository: 'acme/web', registryAction: 'push', action: 'write' },
      { repository: 'acme/api', registryAction: 'pull' },
      { repository: 'acme/web' },
      { app: 'web' },
    ],
  },
];

describe('each caveat allows what it names and refuses the rest', () => {
  for (const c of cases) {
    const token = attenuate(admin, [c.caveat]);
    for (const overrides of c.allowed) {
      it(`${c.caveat.type} allows ${JSON.stringify(overrides)}`, () => {
        assert.equal(verifyToken(token, ring, request(overrides)).ok, true);
      });
    }
    for (const overrides of c.refused) {
      it(`${c.caveat.type} refuses ${JSON.stringify(overrides)}`, () => {
        const err = assertRefused(() => verifyToken(token, ring, request(overrides)), 'forbidden', 'refused');
        assert.equal(err.status, 403);
        assert.equal(err.details.caveatType, c.caveat.type);
        assert.match(err.message, new RegExp(`caveat [12] \\(${c.caveat.type}\\)`));
      });
    }
  }

  it('the org every token is minted for is enforced without any added caveat', () => {
    assert.equal(verifyToken(admin, ring, request()).org, 'acme');
    assertRefused(() => verifyToken(admin, ring, request({ org: 'globex' })), 'forbidden', 'refused');
  });

  it('expires allows up to and including notAfterMs, then refuses with 401', () => {
    const token = attenuate(admin, [{ type: 'expires', notAfterMs: NOW_MS + 1000 }]);
    assert.equal(verifyToken(token, ring, request({ now: NOW_MS + 1000 })).ok, true);
    const err = assertRefused(() => verifyToken(token, ring, request({ now: NOW_MS + 1001 })), 'unauthorized', 'expired');
    assert.match(err.message, /expired at 2023-11-14T22:13:21\.000Z/);
    assertRefused(() => verifyToken(token, ring, request({ now: Number.NaN })), 'unauthorized', 'expired');
  });

  it('token caveats add revocable ids and are reported', () => {
    const token = attenuate(admin, [{ type: 'token', tokenId: 'ci-deploy' }]);
    assert.deepEqual(verifyToken(token, ring, request()).tokenIds, ['root1', 'ci-deploy']);
    assertRefused(
      () => verifyToken(token, ring, request(), { isRevoked: (id) => id === 'ci-deploy' }),
      'unauthorized',
      'revoked',
    );
  });

  it('a second list caveat intersects with the first, never unions', () => {
    const token = attenuate(attenuate(admin, [{ type: 'apps', apps: ['web', 'api'] }]), [
      { type: 'apps', apps: ['api', 'db'] },
    ]);
    assert.equal(verifyToken(token, ring, request({ app: 'api' })).ok, true);
    assertRefused(() => verifyToken(token, ring, request({ app: 'web' })), 'forbidden', 'refused');
    const err = assertRefused(() => verifyToken(token, ring, request({ app: 'db' })), 'forbidden', 'refused');
    assert.match(err.message, /caveat 2 \(apps\): allows apps web, api, not app 'db'/);
  });

  it('an empty list permits nothing', () => {
    const token = attenuate(admin, [{ type: 'apps', apps: [] }]);
    assertRefused(() => verifyToken(token, ring, request({ app: 'web' })), 'forbidden', 'refused');
  });

  it('refuses to write invalid caveats', () => {
    const bad: unknown[] = [
      { type: 'actions', actions: ['admin'] },
      { type: 'apps', apps: [''] },
      { type: 'apps', apps: ['we\nb'] },
      { type: 'expires', notAfterMs: 1.5 },
      { type: 'registry', repositories: ['acme/web'], actions: ['delete'] },
      { type: 'superuser' },
    ];
    for (const caveat of bad) {
      assert.throws(() => attenuate(admin, [caveat as Caveat]), ValidationError, JSON.stringify(caveat));
    }
  });
});

describe('size limits', () => {
  it('refuses to write a token that verifiers would refuse to read', () => {
    const longNames = Array.from({ length: 100 }, (_, i) => `app-${i}-${'x'.repeat(100)}`);
    assert.throws(() => attenuate(admin, [{ type: 'apps', apps: longNames }]), ValidationError);
    const many: Caveat[] = Array.from({ length: 256 }, () => ({ type: 'actions', actions: ['read'] }));
    assert.throws(() => attenuate(admin, many), ValidationError);
  });
});
