/**
 * Public ports claimed by machines, in the central store. Every app shares the platform's one
 * address, so a raw port (UDP, or TCP with neither the http nor the tls handler — nothing in it
 * names the app) belongs to one app: the first whose machine declared it. A machine of another
 * app may not declare it, raw or not (an HTTP listener there would take the raw traffic too);
 * HTTP and TLS ports are shared, routed by host name. Claims go with their machine's pin.
 */
import type Database from 'better-sqlite3';
import { AloftError, isRawPort, type MachineConfig } from '../lib/index.ts';

export const portClaimSchema = `
CREATE TABLE IF NOT EXISTS port_claims (
  machine_id TEXT NOT NULL REFERENCES machine_pins(machine_id) ON DELETE CASCADE,
  app TEXT NOT NULL,
  protocol TEXT NOT NULL,
  start_port INTEGER NOT NULL,
  end_port INTEGER NOT NULL,
  raw INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS port_claims_port ON port_claims(protocol, start_port);
CREATE INDEX IF NOT EXISTS port_claims_machine ON port_claims(machine_id);
`;

/** One public port (or range) a machine's config declares. */
export interface PortClaim {
  protocol: 'tcp' | 'udp';
  startPort: number;
  endPort: number;
  raw: boolean;
}

/** A raw port another app holds (or a shared port another app holds raw). Never names that app: it may be another organization's. */
export class PortTakenError extends AloftError {
  constructor(claim: PortClaim, port: number) {
    super('port_taken', 'config', `public port ${port}/${claim.protocol} is taken by another app`, {
      status: 409,
      hint: 'a port without the http or tls handler (and any UDP port) belongs to one app on the shared address; pick another port, or serve it with the http or tls handler',
      details: { port, protocol: claim.protocol },
    });
  }
}

/** The public ports `config` declares, as claims. */
export function portClaimsOf(config: MachineConfig): PortClaim[] {
  return config.services.flatMap((service) =>
    service.ports.flatMap((p) => {
      const startPort = p.port ?? p.start_port;
      const endPort = p.port ?? p.end_port;
      return startPort === undefined || endPort === undefined ? [] : [{ protocol: service.protocol, startPort, endPort, raw: isRawPort(service.protocol, p) }];
    }),
  );
}

interface ClaimRow {
  app: string;
  protocol: 'tcp' | 'udp';
  start_port: number;
  end_port: number;
  raw: number;
}

export class PortClaims {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Throws PortTakenError when one of `claims` conflicts with another app's; `app`'s own claims never conflict. */
  check(app: string, claims: readonly PortClaim[]): void {
    const overlapping = this.#db.prepare('SELECT app, protocol, start_port, end_port, raw FROM port_claims WHERE protocol = ? AND start_port <= ? AND end_port >= ? AND app != ? AND (raw = 1 OR ? = 1) LIMIT 1');
    for (const claim of claims) {
      const taken = overlapping.get(claim.protocol, claim.endPort, claim.startPort, app, claim.raw ? 1 : 0) as ClaimRow | undefined;
      if (taken !== undefined) throw new PortTakenError(claim, Math.max(claim.startPort, taken.start_port));
    }
  }

  /** Replaces the machine's claims with `claims`, after checking them, in one step (a racing claim of another app fails one of the two). */
  replace(machineId: string, app: string, claims: readonly PortClaim[]): void {
    this.#db.transaction(() => {
      this.check(app, claims);
      this.#write(machineId, app, claims);
    })();
  }

  /** Puts back claims the machine held before (an update the host refused), without checking. */
  restore(machineId: string, app: string, claims: readonly PortClaim[]): void {
    this.#db.transaction(() => this.#write(machineId, app, claims))();
  }

  of(machineId: string): PortClaim[] {
    const rows = this.#db.prepare('SELECT app, protocol, start_port, end_port, raw FROM port_claims WHERE machine_id = ?').all(machineId) as ClaimRow[];
    return rows.map((r) => ({ protocol: r.protocol, startPort: r.start_port, endPort: r.end_port, raw: r.raw === 1 }));
  }

  #write(machineId: string, app: string, claims: readonly PortClaim[]): void {
    this.#db.prepare('DELETE FROM port_claims WHERE machine_id = ?').run(machineId);
    const insert = this.#db.prepare('INSERT INTO port_claims (machine_id, app, protocol, start_port, end_port, raw) VALUES (?, ?, ?, ?, ?, ?)');
    for (const c of claims) insert.run(machineId, app, c.protocol, c.startPort, c.endPort, c.raw ? 1 : 0);
  }
}
