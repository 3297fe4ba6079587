/**
 * Token metadata and revocations, in the central store. Never the token itself: a token is
 * shown once when it is made, and only its id, description and caveats are kept, which is
 * enough to list it and to revoke it (verifiers check ids, not secrets).
 */
import type Database from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../lib/index.ts';
import type { Caveat } from '../tokens/index.ts';

export interface TokenRow {
  id: string;
  org_slug: string;
  description: string;
  caveats: Caveat[];
  /** Ids of the token this one was derived from, outermost first, ending with its own id. */
  chain: string[];
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

/** Rows kept per organization; revoked and expired rows count too (nothing prunes them yet). */
export const TOKENS_PER_ORG_MAX = 10_000;

export const tokenSchema = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  org_slug TEXT NOT NULL,
  description TEXT NOT NULL,
  caveats TEXT NOT NULL,
  chain TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS tokens_org ON tokens(org_slug);
CREATE INDEX IF NOT EXISTS tokens_revoked ON tokens(revoked_at) WHERE revoked_at IS NOT NULL;
`;

interface StoredRow extends Omit<TokenRow, 'caveats' | 'chain'> {
  caveats: string;
  chain: string;
}

export class TokenStore {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Records a token; recording the same id again is a no-op (a restarted `aloft up` re-records its admin token). */
  record(row: Omit<TokenRow, 'revoked_at'>): void {
    // Only live tokens count: revoked and expired rows stay listable but cannot fill the quota.
    const count = (
      this.#db.prepare('SELECT COUNT(*) AS n FROM tokens WHERE org_slug = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)').get(row.org_slug, row.created_at) as { n: number }
    ).n;
    if (count >= TOKENS_PER_ORG_MAX) {
      throw new ConflictError('too_many_tokens', `organization ${row.org_slug} already has ${TOKENS_PER_ORG_MAX} tokens`, {
        status: 422,
        hint: 'revoke tokens you no longer need (`aloft tokens list`, `aloft tokens revoke ID`)',
      });
    }
    this.#db
      .prepare('INSERT OR IGNORE INTO tokens (id, org_slug, description, caveats, chain, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(row.id, row.org_slug, row.description, JSON.stringify(row.caveats), JSON.stringify(row.chain), row.created_at, row.expires_at);
  }

  list(org: string): TokenRow[] {
    const rows = this.#db.prepare('SELECT * FROM tokens WHERE org_slug = ? ORDER BY created_at, id').all(org) as StoredRow[];
    return rows.map(parse);
  }

  get(id: string): TokenRow {
    const row = this.#db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as StoredRow | undefined;
    if (row === undefined) throw new NotFoundError('token', id, { hint: 'list tokens with `aloft tokens list`' });
    return parse(row);
  }

  /** Marks the token revoked; revoking twice keeps the first time. */
  revoke(id: string, nowMs: number): TokenRow {
    this.get(id);
    this.#db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(nowMs, id);
    return this.get(id);
  }

  isRevoked(id: string): boolean {
    return this.#db.prepare('SELECT 1 FROM tokens WHERE id = ? AND revoked_at IS NOT NULL').get(id) !== undefined;
  }

  /** Revoked ids whose tokens could still verify; those past their expiry are refused anyway. */
  revokedIds(nowMs: number): string[] {
    const rows = this.#db
      .prepare('SELECT id FROM tokens WHERE revoked_at IS NOT NULL AND (expires_at IS NULL OR expires_at >= ?) ORDER BY id')
      .all(nowMs) as { id: string }[];
    return rows.map((r) => r.id);
  }
}

function parse(row: StoredRow): TokenRow {
  return { ...row, caveats: JSON.parse(row.caveats) as Caveat[], chain: JSON.parse(row.chain) as string[] };
}
