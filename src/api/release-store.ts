/**
 * Releases, in the central store: each deploy of an app is a numbered release with the image
 * and the app config it rolled out, and how it ended. A rollback is a new release of an older
 * one's image and config, so the history reads in order. Keyed by app id, so an app created
 * again under a deleted app's name starts a history of its own.
 */
import type Database from 'better-sqlite3';
import { ConflictError, NotFoundError, randomHex, type Release, type ReleaseStatus } from '../lib/index.ts';

export type ReleaseRow = Release;

/** Kept per app; older releases beyond it are dropped, oldest first. */
export const RELEASES_PER_APP_MAX = 200;

export const releaseSchema = `
CREATE TABLE IF NOT EXISTS releases (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  image TEXT NOT NULL,
  strategy TEXT NOT NULL,
  config TEXT NOT NULL,
  description TEXT NOT NULL,
  failure TEXT,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  UNIQUE (app_id, version)
);
`;

interface StoredRow extends Omit<ReleaseRow, 'config' | 'failure'> {
  config: string;
  failure: string | null;
}

export class ReleaseStore {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Starts the next release of the app; one release runs at a time per app. */
  begin(appId: string, release: Pick<ReleaseRow, 'image' | 'strategy' | 'config' | 'description'>, nowMs: number): ReleaseRow {
    const run = this.#db.transaction(() => {
      const running = this.#db.prepare("SELECT version FROM releases WHERE app_id = ? AND status = 'running'").get(appId) as { version: number } | undefined;
      if (running !== undefined) {
        throw new ConflictError('deploy_in_progress', `release v${running.version} of this app is still being deployed`, {
          hint: 'wait for it to finish; if its deploy was interrupted, mark it failed with `aloft releases abort -a APP`',
        });
      }
      const last = this.#db.prepare('SELECT MAX(version) AS v FROM releases WHERE app_id = ?').get(appId) as { v: number | null };
      const id = `rel_${randomHex(8)}`;
      this.#db
        .prepare('INSERT INTO releases (id, app_id, version, status, image, strategy, config, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(id, appId, (last.v ?? 0) + 1, 'running', release.image, release.strategy, JSON.stringify(release.config), release.description, nowMs);
      this.#db
        .prepare('DELETE FROM releases WHERE app_id = ? AND version <= (SELECT MAX(version) FROM releases WHERE app_id = ?) - ?')
        .run(appId, appId, RELEASES_PER_APP_MAX);
      return id;
    });
    return this.get(appId, run());
  }

  /** Ends a running release as complete or failed. */
  finish(appId: string, id: string, status: Exclude<ReleaseStatus, 'running'>, failure: Record<string, unknown> | null, nowMs: number): ReleaseRow {
    const row = this.get(appId, id);
    if (row.status !== 'running') {
      throw new ConflictError('release_finished', `release v${row.version} already ended as ${row.status}`, { hint: 'start a new deploy instead' });
    }
    this.#db.prepare('UPDATE releases SET status = ?, failure = ?, finished_at = ? WHERE id = ?').run(status, failure === null ? null : JSON.stringify(failure), nowMs, id);
    return this.get(appId, id);
  }

  /** A release by id (`rel_…`) or version number (`3` or `v3`). */
  get(appId: string, idOrVersion: string): ReleaseRow {
    const version = /^v?(\d+)$/.exec(idOrVersion);
    const row = (
      version === null
        ? this.#db.prepare('SELECT * FROM releases WHERE app_id = ? AND id = ?').get(appId, idOrVersion)
        : this.#db.prepare('SELECT * FROM releases WHERE app_id = ? AND version = ?').get(appId, Number(version[1]))
    ) as StoredRow | undefined;
    if (row === undefined) throw new NotFoundError('release', idOrVersion, { hint: 'list releases with `aloft releases`' });
    return decode(row);
  }

  /** Newest first. */
  list(appId: string, limit = 50): ReleaseRow[] {
    return (this.#db.prepare('SELECT * FROM releases WHERE app_id = ? ORDER BY version DESC LIMIT ?').all(appId, limit) as StoredRow[]).map(decode);
  }
}

function decode(row: StoredRow): ReleaseRow {
  return { ...row, config: JSON.parse(row.config) as Record<string, unknown>, failure: row.failure === null ? null : (JSON.parse(row.failure) as Record<string, unknown>) };
}
