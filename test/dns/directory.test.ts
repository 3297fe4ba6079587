/** The directory survives a subscription that ends (e.g. its reader fell behind) by resubscribing and rebuilding. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DnsDirectory, type DirectoryState } from '../../src/dns/index.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { sixpnAddress } from '../../src/net/index.ts';
import type { SubscriptionEvent } from '../../src/state/index.ts';
import { eventually } from '../helpers/eventually.ts';

const columns = ['id', 'app', 'region', 'state', 'private_ip', 'metadata'];
const row = (id: string, app: string, org: number, state = 'started') => [id, app, 'ams', state, sixpnAddress(org, 1, Number(id.replace(/\D/g, '')), 2), '{}'];

test('a subscription that fails is reopened and its initial rows replace the index', async () => {
  let opened = 0;
  const state: DirectoryState = {
    subscribe: (_sql, _params, options) => {
      opened += 1;
      const attempt = opened;
      async function* events(): AsyncGenerator<SubscriptionEvent> {
        if (attempt === 1) {
          yield { type: 'initial', columns, rows: [{ rowid: 1, values: row('m1', 'web', 5) }, { rowid: 2, values: row('m2', 'gone', 5) }], changeId: 0 };
          yield { type: 'change', kind: 'update', rowid: 1, values: row('m1', 'web', 5, 'stopped'), changeId: 1 };
          throw new Error('subscriber fell too far behind');
        }
        yield { type: 'initial', columns, rows: [{ rowid: 1, values: row('m1', 'web', 5) }, { rowid: 3, values: row('m3', 'web', 6) }], changeId: 7 };
        await new Promise((resolve) => options?.signal?.addEventListener('abort', resolve));
      }
      return { id: `sub-${attempt}`, events: events() };
    },
  };
  const directory = new DnsDirectory(state, silentLogger());
  try {
    await directory.ready;
    await eventually('resubscribed', () => opened === 2 && directory.apps(5).length === 1);
    assert.deepEqual(directory.apps(5), ['web'], "the app only the failed subscription had is gone");
    assert.deepEqual(directory.machines(5, 'web')!.map((m) => [m.id, m.started]), [['m1', true]]);
    assert.deepEqual(directory.apps(6), ['web'], 'each machine is filed under the org of its 6PN address');
  } finally {
    directory.close();
  }
});
