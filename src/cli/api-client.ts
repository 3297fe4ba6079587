import { requestJson, type Machine } from '../lib/index.ts';
import type { Endpoints } from './endpoints.ts';

export interface AppView {
  id: string;
  name: string;
  status: string;
  machine_count: number;
  network: string;
  organization: { name: string; slug: string };
}

/** The CLI's client of the Machines API. Errors arrive as the server's AloftErrors. */
export class ApiClient {
  readonly #base: string;
  readonly #token: string;

  constructor(endpoints: Endpoints) {
    this.#base = endpoints.api.replace(/\/$/, '');
    this.#token = endpoints.token;
  }

  call<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<T> {
    return requestJson<T>(method, `${this.#base}${path}`, {
      token: this.#token,
      target: 'the Aloft API',
      ...(body === undefined ? {} : { body }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  }

  createApp(name: string, org: string): Promise<AppView> {
    return this.call('POST', '/v1/apps', { app_name: name, org_slug: org });
  }

  listApps(org?: string): Promise<{ total_apps: number; apps: AppView[] }> {
    return this.call('GET', `/v1/apps${org === undefined ? '' : `?org_slug=${encodeURIComponent(org)}`}`);
  }

  destroyApp(name: string): Promise<void> {
    return this.call('DELETE', `/v1/apps/${name}`);
  }

  listMachines(app: string, includeDeleted = false): Promise<Machine[]> {
    return this.call('GET', `/v1/apps/${app}/machines${includeDeleted ? '?include_deleted=true' : ''}`);
  }

  createMachine(app: string, body: Record<string, unknown>): Promise<Machine> {
    return this.call('POST', `/v1/apps/${app}/machines`, body);
  }

  getMachine(app: string, id: string): Promise<Machine> {
    return this.call('GET', `/v1/apps/${app}/machines/${id}`);
  }

  updateMachine(app: string, id: string, config: unknown): Promise<Machine> {
    return this.call('POST', `/v1/apps/${app}/machines/${id}`, { config });
  }

  machineAction(app: string, id: string, action: 'start' | 'stop' | 'restart', body?: unknown): Promise<unknown> {
    return this.call('POST', `/v1/apps/${app}/machines/${id}/${action}`, body ?? {});
  }

  destroyMachine(app: string, id: string, force: boolean): Promise<void> {
    return this.call('DELETE', `/v1/apps/${app}/machines/${id}${force ? '?force=true' : ''}`);
  }

  /** Waits up to `timeoutS` (≤ 60) for the machine to reach `state`. */
  wait(app: string, id: string, state: string, timeoutS: number, instanceId?: string): Promise<{ ok: boolean; state: string }> {
    const q = new URLSearchParams({ state, timeout: String(timeoutS) });
    if (instanceId !== undefined) q.set('instance_id', instanceId);
    return this.call('GET', `/v1/apps/${app}/machines/${id}/wait?${q}`, undefined, (timeoutS + 10) * 1000);
  }

  logs(app: string, id: string, offset: number): Promise<{ data: string; next_offset: number }> {
    return this.call('GET', `/v1/apps/${app}/machines/${id}/logs?offset=${offset}`);
  }
}
