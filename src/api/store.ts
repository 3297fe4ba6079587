/**
 * The central store: organizations, apps, hosts and where each machine is pinned. It holds no
 * machine state (the agents own that) — only what is needed to find things, so losing its
 * availability never stops a machine.
 */
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../lib/index.ts';
import { PortClaims, portClaimSchema } from './port-claims.ts';
import { ReleaseStore, releaseSchema } from './release-store.ts';
import { SecretStore, secretSchema } from './secret-store.ts';
import { TokenStore, tokenSchema } from './token-store.ts';

export interface OrgRow {
  slug: string;
  name: string;
  num: number;
}

export interface AppRow {
  id: string;
  name: string;
  org_slug: string;
  network: string;
  status: string;
  created_at: number;
}

export interface HostRow {
  id: string;
  region: string;
  agent_url: string;
}

export interface PinRow {
  machine_id: string;
  app: string;
  host_id: string;
  name: string;
  region: string;
}

const schema = `
CREATE TABLE IF NOT EXISTS orgs (
  num INTEGER PRIMARY KEY AUTOINCREMENT,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS apps (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  org_slug TEXT NOT NULL REFERENCES orgs(slug),
  network TEXT NOT NULL DEFAULT 'default',
  status TEXT NOT NULL DEFAULT 'deployed',
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts (
  id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  agent_url TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS machine_pins (
  machine_id TEXT PRIMARY KEY,
  app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  host_id TEXT NOT NULL REFERENCES hosts(id),
  name TEXT NOT NULL,
  region TEXT NOT NULL,
  UNIQUE (app, name)
);
CREATE INDEX IF NOT EXISTS machine_pins_app ON machine_pins(app);
`;

export class CentralStore {
  readonly #db: Database.Database;
  /** Token metadata and revocations (token-store.ts). */
  readonly tokens: TokenStore;
  /** Each app's releases (release-store.ts). */
  readonly releases: ReleaseStore;
  /** Each app's sealed secrets (secret-store.ts). */
  readonly secrets: SecretStore;
  /** The public ports machines declare, and which app holds each raw one (port-claims.ts). */
  readonly ports: PortClaims;

  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(schema);
    this.#db.exec(tokenSchema);
    this.tokens = new TokenStore(this.#db);
    this.#db.exec(releaseSchema);
    this.releases = new ReleaseStore(this.#db);
    this.#db.exec(secretSchema);
    this.secrets = new SecretStore(this.#db);
    this.#db.exec(portClaimSchema);
    this.ports = new PortClaims(this.#db);
  }

  ensureOrg(slug: string, name: string): OrgRow {
    this.#db.prepare('INSERT OR IGNORE INTO orgs (slug, name) VALUES (?, ?)').run(slug, name);
    return this.org(slug);
  }

  org(slug: string): OrgRow {
    const row = this.#db.prepare('SELECT slug, name, num FROM orgs WHERE slug = ?').get(slug) as OrgRow | undefined;
    if (row === undefined) throw new NotFoundError('organization', slug, { hint: 'list your organizations with `aloft orgs list`' });
    return row;
  }

  createApp(app: Omit<AppRow, 'status'>): AppRow {
    try {
      this.#db
        .prepare('INSERT INTO apps (id, name, org_slug, network, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(app.id, app.name, app.org_slug, app.network, app.created_at);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError('app_exists', `an app named '${app.name}' already exists`, {
          hint: 'app names are global; pick another name',
          status: 422,
        });
      }
      throw err;
    }
    return this.app(app.name);
  }

  app(name: string): AppRow {
    const row = this.#db.prepare('SELECT * FROM apps WHERE name = ?').get(name) as AppRow | undefined;
    if (row === undefined) throw new NotFoundError('app', name, { hint: 'list apps with `aloft apps list`' });
    return row;
  }

  apps(orgSlug?: string): AppRow[] {
    if (orgSlug === undefined) return this.#db.prepare('SELECT * FROM apps ORDER BY name').all() as AppRow[];
    return this.#db.prepare('SELECT * FROM apps WHERE org_slug = ? ORDER BY name').all(orgSlug) as AppRow[];
  }

  /** Deletes the app with what only it used: its sealed secrets and its releases. */
  deleteApp(name: string): void {
    this.#db.transaction(() => {
      const row = this.#db.prepare('SELECT id FROM apps WHERE name = ?').get(name) as { id: string } | undefined;
      if (row === undefined) return;
      this.#db.prepare('DELETE FROM app_secrets WHERE app_id = ?').run(row.id);
      this.#db.prepare('DELETE FROM releases WHERE app_id = ?').run(row.id);
      this.#db.prepare('DELETE FROM apps WHERE id = ?').run(row.id);
    })();
  }

  upsertHost(host: HostRow): void {
    this.#db
      .prepare('INSERT INTO hosts (id, region, agent_url) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET region = excluded.region, agent_url = excluded.agent_url')
      .run(host.id, host.region, host.agent_url);
  }

  hosts(region?: string): HostRow[] {
    if (region === undefined) return this.#db.prepare('SELECT * FROM hosts ORDER BY id').all() as HostRow[];
    return this.#db.prepare('SELECT * FROM hosts WHERE region = ? ORDER BY id').all(region) as HostRow[];
  }

  host(id: string): HostRow {
    const row = this.#db.prepare('SELECT * FROM hosts WHERE id = ?').get(id) as HostRow | undefined;
    if (row === undefined) throw new NotFoundError('host', id);
    return row;
  }

  /** Fails when the app already has a machine of that name, before any host does work. */
  checkNameFree(app: string, name: string): void {
    const row = this.#db.prepare('SELECT machine_id FROM machine_pins WHERE app = ? AND name = ?').get(app, name) as { machine_id: string } | undefined;
    if (row !== undefined) {
      throw new ConflictError('name_taken', `app '${app}' already has a machine named '${name}' (${row.machine_id})`, {
        status: 422,
        hint: 'machine names are unique within an app; pick another or leave it out',
      });
    }
  }

  pin(pin: PinRow): void {
    this.#db
      .prepare('INSERT INTO machine_pins (machine_id, app, host_id, name, region) VALUES (?, ?, ?, ?, ?)')
      .run(pin.machine_id, pin.app, pin.host_id, pin.name, pin.region);
  }

  /** The pin of a machine of `app`; a machine of another app is reported as not found. */
  pinOf(app: string, machineId: string): PinRow {
    const row = this.#db.prepare('SELECT * FROM machine_pins WHERE machine_id = ? AND app = ?').get(machineId, app) as PinRow | undefined;
    if (row === undefined) throw new NotFoundError('machine', machineId, { hint: `list the machines of ${app} with \`aloft machine list -a ${app}\`` });
    return row;
  }

  pins(app: string): PinRow[] {
    return this.#db.prepare('SELECT * FROM machine_pins WHERE app = ? ORDER BY machine_id').all(app) as PinRow[];
  }

  /** Every machine pinned to a host, for operators' listings and drains. */
  pinsOnHost(hostId: string): PinRow[] {
    return this.#db.prepare('SELECT * FROM machine_pins WHERE host_id = ? ORDER BY machine_id').all(hostId) as PinRow[];
  }

  unpin(machineId: string): void {
    this.#db.prepare('DELETE FROM machine_pins WHERE machine_id = ?').run(machineId);
  }

  close(): void {
    this.#db.close();
  }
}
