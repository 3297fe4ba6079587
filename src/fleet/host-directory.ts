/**
 * Keeps the central store's host list fed from the state layer: every host publishes its row
 * (region, agent URL) through its own agent, and the control host's state node carries them
 * here, so a host joins the fleet by starting, without a registration call.
 */
import type { CentralStore } from '../api/index.ts';
import { sleep, type Logger } from '../lib/index.ts';
import type { StateHandle, Value } from '../state/index.ts';

const hostsQuery = 'SELECT id, region, agent_url FROM hosts';
const resubscribeDelayMs = 500;

/** Follows the hosts table until `signal` aborts; a lost subscription is reopened. */
export async function followHosts(state: Pick<StateHandle, 'subscribe'>, store: CentralStore, logger: Logger, signal: AbortSignal): Promise<void> {
  const upsert = (values: Value[]): void => {
    const [id, region, agentUrl] = values.map((v) => (typeof v === 'string' ? v : ''));
    if (id !== '' && region !== '' && agentUrl !== '') store.upsertHost({ id: id!, region: region!, agent_url: agentUrl! });
  };
  while (!signal.aborted) {
    try {
      for await (const event of state.subscribe(hostsQuery, [], { signal }).events) {
        if (event.type === 'initial') for (const row of event.rows) upsert(row.values);
        else if (event.kind !== 'delete') upsert(event.values);
      }
    } catch (err) {
      if (signal.aborted) return;
      logger.warn({ err }, 'lost the hosts subscription; resubscribing');
    }
    await sleep(resubscribeDelayMs, signal).catch(() => undefined);
  }
}
