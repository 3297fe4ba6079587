/**
 * The state layer as what a region's proxies share for autostop (src/proxy/activity.ts): each
 * host's proxy writes only its own rows of `machine_activity` (when each machine last had
 * traffic through it), and every proxy reads the latest per machine over all of them. Which
 * proxy decides is the feed's answer (ProxyFeed.leadsRegion).
 */
import type { MachineActivity, RegionActivity } from '../proxy/index.ts';
import type { StateHandle, Statement } from '../state/index.ts';

/** Rows per transaction, well inside the state layer's per-transaction cell and statement bounds. */
const rowsPerTransaction = 200;

export function stateRegionActivity(state: Pick<StateHandle, 'transaction' | 'query'>, selfHostId: string, decides: () => boolean): RegionActivity {
  return {
    publish(active: readonly MachineActivity[], gone: readonly string[]): void {
      const statements: Statement[] = [
        ...active.map((a) => ({
          sql: `INSERT INTO machine_activity (machine_id, host_id, last_active_at) VALUES (?, ?, ?)
                ON CONFLICT (machine_id, host_id) DO UPDATE SET last_active_at = excluded.last_active_at`,
          params: [a.machineId, selfHostId, a.lastActiveAt],
        })),
        ...gone.map((id) => ({ sql: 'DELETE FROM machine_activity WHERE machine_id = ? AND host_id = ?', params: [id, selfHostId] })),
      ];
      for (let i = 0; i < statements.length; i += rowsPerTransaction) state.transaction(statements.slice(i, i + rowsPerTransaction));
    },
    lastActive(): ReadonlyMap<string, number> {
      const rows = state.query('SELECT machine_id, MAX(last_active_at) FROM machine_activity GROUP BY machine_id').rows;
      return new Map(rows.map(([id, at]) => [String(id), Number(at)]));
    },
    decides,
  };
}
