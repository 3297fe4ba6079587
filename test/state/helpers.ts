import Database from 'better-sqlite3';
import { silentLogger } from '../../src/lib/log.ts';
import { Store } from '../../src/state/crdt/store.ts';
import { defaultLimits } from '../../src/state/limits.ts';
import { loadSchemaFile } from '../../src/state/schema/schema.ts';

let siteCounter = 0;

/** A store on an in-memory database with the platform schema and a predictable site id. */
export function memoryStore(site?: string): Store {
  siteCounter++;
  const id = site ?? siteCounter.toString(16).padStart(16, '0');
  return new Store(new Database(':memory:'), { schema: loadSchemaFile(), newSiteId: () => id, limits: defaultLimits, log: silentLogger() });
}

export function rows(store: Store, sql: string): unknown[] {
  return store.prepareQuery(sql).all();
}

/** Polls `check` until it returns true or the deadline passes; never sleeps blindly. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
