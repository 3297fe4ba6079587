// Attenuation can only narrow: for random caveat chains and random requests, whatever the
// attenuated token allows, its parent allows too — and exactly when every added caveat agrees.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { AuthError } from '../../src/lib/index.ts';
import { ACTIONS, REGISTRY_ACTIONS, attenuate, mintToken, verifyToken } from '../../src/tokens/index.ts';
import type { Caveat, TokenRequest } from '../../src/tokens/index.ts';
import { NOW_MS, newKeyring } from './helpers.ts';

// Small domains so random caveats and random requests often overlap; otherwise nearly every
// request would be refused and the property would hold vacuously.
const ORGS = ['acme', 'globex'];
const APPS = ['web', 'api', 'db'];
const MACHINES = ['m1', 'm2', 'm3'];
const REGIONS = ['ams', 'iad', 'syd'];
const REPOS = ['acme/web', 'acme/api'];
const TOKEN_IDS = ['d1', 'd2', 'd3'];
const SECOND_MS = 1000;

const caveat: fc.Arbitrary<Caveat> = fc.oneof(
  fc.constantFrom(...ORGS).map((org): Caveat => ({ type: 'org', org })),
  fc.subarray(APPS).map((apps): Caveat => ({ type: 'apps', apps })),
  fc.subarray([...ACTIONS]).map((actions): Caveat => ({ type: 'actions', actions })),
  fc.subarray(MACHINES).map((machines): Caveat => ({ type: 'machines', machines })),
  fc.subarray(REGIONS).map((regions): Caveat => ({ type: 'regions', regions })),
  fc.integer({ min: -2, max: 2 }).map((s): Caveat => ({ type: 'expires', notAfterMs: NOW_MS + s * SECOND_MS })),
  fc
    .record({ repositories: fc.subarray(REPOS), actions: fc.subarray([...REGISTRY_ACTIONS]) })
    .map((r): Caveat => ({ type: 'registry', ...r })),
  fc.constantFrom(...TOKEN_IDS).map((tokenId): Caveat => ({ type: 'token', tokenId })),
);

const request: fc.Arbitrary<TokenRequest> = fc.record(
  {
    org: fc.constantFrom(...ORGS),
    app: fc.constantFrom(...APPS),
    action: fc.constantFrom(...ACTIONS),
    machineId: fc.constantFrom(...MACHINES),
    region: fc.constantFrom(...REGIONS),
    repository: fc.constantFrom(...REPOS),
    registryAction: fc.constantFrom(...REGISTRY_ACTIONS),
    now: fc.integer({ min: -3, max: 3 }).map((s) => NOW_MS + s * SECOND_MS),
  },
  { requiredKeys: ['org', 'action', 'now'] },
);

const ring = newKeyring();

/** Allowed or not; anything other than an AuthError is a bug and fails the property. */
function allows(token: string, req: TokenRequest, isRevoked: (id: string) => boolean): boolean {
  try {
    verifyToken(token, ring, req, { isRevoked });
    return true;
  } catch (err) {
    if (err instanceof AuthError) return false;
    throw err;
  }
}

it('an attenuated token allows a subset of what its parent allows', (t) => {
  let childAllowed = 0;
  let parentOnly = 0;
  fc.assert(
    fc.property(
      fc.constantFrom(...ORGS),
      fc.array(caveat, { maxLength: 3 }),
      fc.array(caveat, { minLength: 1, maxLength: 3 }),
      fc.subarray(TOKEN_IDS, { maxLength: 1 }),
      fc.array(request, { minLength: 1, maxLength: 16 }),
      (org, parentCaveats, added, revoked, requests) => {
        const isRevoked = (id: string): boolean => revoked.includes(id);
        const parent = mintToken({ keyring: ring, org, caveats: parentCaveats, tokenId: 'root1' });
        const child = attenuate(parent, added);
        const addedAlone = mintToken({ keyring: ring, org, caveats: added, tokenId: 'root2' });
        for (const req of requests) {
          const childOk = allows(child, req, isRevoked);
          const parentOk = allows(parent, req, isRevoked);
          // The child is exactly the parent intersected with the added caveats on their own.
          assert.equal(childOk, parentOk && allows(addedAlone, req, isRevoked));
          if (childOk) childAllowed++;
          if (parentOk && !childOk) parentOnly++;
        }
      },
    ),
    { numRuns: 400 },
  );
  t.diagnostic(`${childAllowed} requests allowed by children, ${parentOnly} narrowed away by attenuation`);
  // Guard against a vacuous pass: both outcomes must actually have occurred.
  assert.ok(childAllowed > 20, `only ${childAllowed} requests were allowed by a child`);
  assert.ok(parentOnly > 20, `only ${parentOnly} requests were narrowed away`);
});
