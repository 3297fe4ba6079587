/** The route table's lists per app and port, as requests ask for them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../../src/proxy/index.ts';
import { http80, machine } from './helpers.ts';

describe('route table', () => {
  it('keeps nothing for an app it has no machine of, whatever names clients send', () => {
    const routes = new RouteTable();
    routes.upsert(machine('m-1', 'real', http80(8080)));
    // Any Host a client sends asks for its app's targets: a list kept per name asked would grow without bound.
    assert.equal(routes.targets('ghost-1', 80), routes.targets('ghost-2', 80), 'one shared empty list, not one kept per name');
    assert.equal(routes.routable('ghost-3', 80).length, 0);
    assert.equal(routes.targets('real', 80).length, 1);
    assert.equal(routes.routable('real', 80), routes.routable('real', 80), 'a real app is still worked out once');
  });
});
