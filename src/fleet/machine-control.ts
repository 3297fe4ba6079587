/**
 * How a host's proxy starts and stops machines for autostart and autostop: through the agents'
 * HTTP APIs, like the API gateway, with a platform token minted fresh for every call (the agent
 * verifies it itself). The proxy never creates or destroys machines.
 */
import { AgentClient } from '../agent/index.ts';
import { PlatformError, systemClock, type Clock } from '../lib/index.ts';
import type { MachineControl, MachineRoute } from '../proxy/index.ts';
import type { StateHandle } from '../state/index.ts';
import { mintPlatformToken, type Keyring } from '../tokens/index.ts';

export interface AgentControlOptions {
  /** The agent URL of a host, or undefined when this host cannot reach it (the start is then refused). */
  agentUrlOf: (hostId: string) => string | undefined;
  /** Token for each call; the default mints a platform token from the keyring. */
  token?: () => string;
  keyring?: Keyring;
  clock?: Clock;
}

export function agentMachineControl(opts: AgentControlOptions): MachineControl {
  const clock = opts.clock ?? systemClock;
  const token =
    opts.token ??
    ((): string => {
      if (opts.keyring === undefined) throw new Error('agentMachineControl needs a token function or a keyring');
      return mintPlatformToken(opts.keyring, ['read', 'write'], clock.now());
    });
  const call = async (machine: MachineRoute, action: 'start' | 'stop'): Promise<void> => {
    const url = opts.agentUrlOf(machine.hostId);
    if (url === undefined) {
      throw new PlatformError('agent_unknown', `cannot ${action} machine ${machine.id}: this proxy does not know the agent of host ${machine.hostId}`, {
        hint: 'the machine is on a host this proxy cannot reach; start it there: aloft machine start',
      });
    }
    const client = new AgentClient(url, token, machine.hostId);
    await client.forward('POST', machine.id, `/${action}`, '', action === 'stop' ? {} : undefined, {}, token());
  };
  return { start: (m) => call(m, 'start'), stop: (m) => call(m, 'stop') };
}

/** The agent URL a host publishes in its `hosts` row, if any. */
export function agentUrlFromState(state: Pick<StateHandle, 'query'>, hostId: string): string | undefined {
  const url = state.query('SELECT agent_url FROM hosts WHERE id = ?', [hostId]).rows[0]?.[0];
  return typeof url === 'string' && url !== '' ? url : undefined;
}
