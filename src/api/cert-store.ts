/**
 * Certificates in the central store: one row per hostname (owned by one app), the ACME http-01
 * challenges being answered right now, and the ACME account keys. Every change bumps a version
 * number (by trigger, so deletes cascading from an app's deletion count too), which proxies
 * long-poll to learn there is something new to fetch.
 *
 * It opens its own connection to the central SQLite file (after CentralStore made the `apps`
 * table it refers to), so certificate code stays out of store.ts.
 */
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../lib/index.ts';

export type CertificateStatus = 'pending' | 'ready' | 'failed';

export interface CertificateRow {
  hostname: string;
  app: string;
  status: CertificateStatus;
  cert_pem: string | null;
  key_pem: string | null;
  not_after: number | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export interface ChallengeRow {
  token: string;
  hostname: string;
  key_authorization: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS certificates (
  hostname TEXT PRIMARY KEY,
  app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  status TEXT NOT NULL,
  cert_pem TEXT,
  key_pem TEXT,
  not_after INTEGER,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_app ON certificates(app);
CREATE TABLE IF NOT EXISTS acme_challenges (
  token TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  key_authorization TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS acme_accounts (
  directory_url TEXT PRIMARY KEY,
  key_pem TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tls_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
INSERT OR IGNORE INTO tls_version (id, version) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS certificates_ins AFTER INSERT ON certificates BEGIN UPDATE tls_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS certificates_upd AFTER UPDATE ON certificates BEGIN UPDATE tls_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS certificates_del AFTER DELETE ON certificates BEGIN UPDATE tls_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS challenges_ins AFTER INSERT ON acme_challenges BEGIN UPDATE tls_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS challenges_del AFTER DELETE ON acme_challenges BEGIN UPDATE tls_version SET version = version + 1; END;
`;

/** Certificates per app; a bound so one app cannot fill every proxy's memory with contexts. */
export const certificatesPerAppMax = 100;

export class CertificateStore {
  readonly #db: Database.Database;

  /** `path` is the central store's SQLite file; CentralStore must have opened it first. */
  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(schema);
  }

  /** Claims `hostname` for `app` as pending; the same app asking again gets its row back (and a failed one is retried). */
  claim(hostname: string, app: string, nowMs: number): { row: CertificateRow; created: boolean } {
    const existing = this.find(hostname);
    if (existing !== undefined && existing.app !== app) {
      throw new ConflictError('hostname_taken', `hostname '${hostname}' already has a certificate for another app`, {
        hint: 'a hostname belongs to one app; remove it there first (aloft certs remove)',
      });
    }
    if (existing !== undefined && existing.status !== 'failed') return { row: existing, created: false };
    if (existing === undefined && this.list(app).length >= certificatesPerAppMax) {
      throw new ConflictError('too_many_certificates', `app '${app}' already has ${certificatesPerAppMax} certificates`, {
        status: 422,
        hint: 'remove certificates it no longer uses (aloft certs list / remove)',
      });
    }
    this.#db
      .prepare(
        `INSERT INTO certificates (hostname, app, status, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)
         ON CONFLICT(hostname) DO UPDATE SET status = 'pending', error = NULL, updated_at = excluded.updated_at`,
      )
      .run(hostname, app, nowMs, nowMs);
    return { row: this.get(hostname), created: existing === undefined };
  }

  markReady(hostname: string, certPem: string, keyPem: string, notAfterMs: number, nowMs: number): void {
    this.#db
      .prepare(`UPDATE certificates SET status = 'ready', cert_pem = ?, key_pem = ?, not_after = ?, error = NULL, updated_at = ? WHERE hostname = ?`)
      .run(certPem, keyPem, notAfterMs, nowMs, hostname);
  }

  markFailed(hostname: string, error: string, nowMs: number): void {
    this.#db.prepare(`UPDATE certificates SET status = 'failed', error = ?, updated_at = ? WHERE hostname = ?`).run(error, nowMs, hostname);
  }

  /** A renewal failed: the row keeps its certificate (and status) and says why. */
  noteRenewalFailed(hostname: string, error: string, nowMs: number): void {
    this.#db.prepare(`UPDATE certificates SET error = ?, updated_at = ? WHERE hostname = ?`).run(`renewal failed: ${error}`, nowMs, hostname);
  }

  find(hostname: string): CertificateRow | undefined {
    return this.#db.prepare('SELECT * FROM certificates WHERE hostname = ?').get(hostname) as CertificateRow | undefined;
  }

  get(hostname: string, app?: string): CertificateRow {
    const row = this.find(hostname);
    // Another app's hostname is reported as not found: its existence is not the caller's business.
    if (row === undefined || (app !== undefined && row.app !== app)) {
      throw new NotFoundError('certificate', hostname, { hint: app === undefined ? undefined : `list the certificates of ${app} with \`aloft certs list -a ${app}\`` });
    }
    return row;
  }

  list(app: string): CertificateRow[] {
    return this.#db.prepare('SELECT * FROM certificates WHERE app = ? ORDER BY hostname').all(app) as CertificateRow[];
  }

  /** Every claimed hostname and its app, for the proxies' routing. */
  hostnames(): { hostname: string; app: string }[] {
    return this.#db.prepare('SELECT hostname, app FROM certificates ORDER BY hostname').all() as { hostname: string; app: string }[];
  }

  /** Certificates still waiting to be issued. */
  pending(): CertificateRow[] {
    return this.#db.prepare(`SELECT * FROM certificates WHERE status = 'pending' ORDER BY hostname`).all() as CertificateRow[];
  }

  clearChallenges(): void {
    this.#db.prepare('DELETE FROM acme_challenges').run();
  }

  /** Every issued certificate, for the proxies. */
  ready(): CertificateRow[] {
    return this.#db.prepare(`SELECT * FROM certificates WHERE status = 'ready' ORDER BY hostname`).all() as CertificateRow[];
  }

  remove(hostname: string): void {
    this.#db.prepare('DELETE FROM certificates WHERE hostname = ?').run(hostname);
    this.#db.prepare('DELETE FROM acme_challenges WHERE hostname = ?').run(hostname);
  }

  putChallenge(challenge: ChallengeRow, nowMs: number): void {
    this.#db
      .prepare('INSERT OR REPLACE INTO acme_challenges (token, hostname, key_authorization, created_at) VALUES (?, ?, ?, ?)')
      .run(challenge.token, challenge.hostname, challenge.key_authorization, nowMs);
  }

  removeChallenge(token: string): void {
    this.#db.prepare('DELETE FROM acme_challenges WHERE token = ?').run(token);
  }

  challenges(): ChallengeRow[] {
    return this.#db.prepare('SELECT token, hostname, key_authorization FROM acme_challenges ORDER BY token').all() as ChallengeRow[];
  }

  /** The ACME account key for `directoryUrl`, made by `create` the first time. */
  accountKey(directoryUrl: string, create: () => string): string {
    const row = this.#db.prepare('SELECT key_pem FROM acme_accounts WHERE directory_url = ?').get(directoryUrl) as { key_pem: string } | undefined;
    if (row !== undefined) return row.key_pem;
    this.#db.prepare('INSERT OR IGNORE INTO acme_accounts (directory_url, key_pem) VALUES (?, ?)').run(directoryUrl, create());
    return this.accountKey(directoryUrl, create);
  }

  /** Grows with every change to certificates or challenges. */
  version(): number {
    return (this.#db.prepare('SELECT version FROM tls_version WHERE id = 1').get() as { version: number }).version;
  }

  close(): void {
    this.#db.close();
  }
}
