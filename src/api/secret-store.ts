/**
 * Each app's sealed secrets in the central store: the copy of record, from which the state
 * layer's copies are published. Only sealed bundles are kept; values exist in clear only in the
 * API while a change is sealed, and in the machines that use them.
 */
import type Database from 'better-sqlite3';
import type { SealedSecrets } from '../secrets/index.ts';

export const secretSchema = `
CREATE TABLE IF NOT EXISTS app_secrets (
  app_id TEXT PRIMARY KEY,
  app TEXT NOT NULL,
  bundle TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

export interface SecretRow {
  app_id: string;
  app: string;
  bundle: SealedSecrets;
  updated_at: number;
}

export class SecretStore {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  get(appId: string): SecretRow | undefined {
    const row = this.#db.prepare('SELECT * FROM app_secrets WHERE app_id = ?').get(appId) as (Omit<SecretRow, 'bundle'> & { bundle: string }) | undefined;
    return row === undefined ? undefined : { ...row, bundle: JSON.parse(row.bundle) as SealedSecrets };
  }

  put(row: SecretRow): void {
    this.#db
      .prepare('INSERT INTO app_secrets (app_id, app, bundle, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(app_id) DO UPDATE SET app = excluded.app, bundle = excluded.bundle, updated_at = excluded.updated_at')
      .run(row.app_id, row.app, JSON.stringify(row.bundle), row.updated_at);
  }

  /** Every app's bundle, for publishing to a state node that may have missed some. */
  all(): SecretRow[] {
    return (this.#db.prepare('SELECT * FROM app_secrets ORDER BY app_id').all() as (Omit<SecretRow, 'bundle'> & { bundle: string })[]).map((row) => ({
      ...row,
      bundle: JSON.parse(row.bundle) as SealedSecrets,
    }));
  }
}
