/**
 * After a start, say plainly what happened: started and still running, or exited (with its exit
 * code and last log lines — the app's fault), or failed in a platform step (ours, named).
 */
import { AloftError, explainMachineEvents, sleep, type Machine } from '../lib/index.ts';
import type { ApiClient } from './api-client.ts';

/** How long a machine must stay up after starting before the CLI calls it started. */
export const settleMs = 1_500;
export const startTimeoutS = 60;

/** How often the CLI looks at a starting machine. */
export const pollIntervalMs = 200;

/**
 * Waits for a start that happened after `before` was read: a new `start` event with the machine
 * started, then `settleMs` more without a new exit. Events already in `before` never count, so an
 * old crash is not reported as new and a restart is not reported before it happened.
 */
export async function waitUntilRunning(client: ApiClient, app: string, before: Machine): Promise<Machine> {
  const known = new Set(before.events.map((e) => e.id));
  const deadline = performance.now() + startTimeoutS * 1000;
  for (;;) {
    const current = await client.getMachine(app, before.id);
    const problem = explainMachineEvents(current, known);
    if (problem !== undefined) throw problem;
    const startedAgain = current.events.some((e) => e.type === 'start' && !known.has(e.id));
    if (current.state === 'started' && startedAgain) break;
    if (performance.now() > deadline) {
      throw new AloftError('timeout', 'platform', `machine ${before.id} did not start within ${startTimeoutS}s (it is ${current.state})`, {
        status: 408,
        hint: `see what it is doing: aloft machine status ${before.id} -a ${app}`,
      });
    }
    await sleep(pollIntervalMs);
  }
  await sleep(settleMs);
  const settled = await client.getMachine(app, before.id);
  const problem = explainMachineEvents(settled, known);
  if (problem !== undefined) throw problem;
  return settled;
}
