import { requestJson, type Machine } from '../lib/index.ts';

export interface CreateOnAgent {
  id: string;
  name?: string;
  app: string;
  app_id: string;
  org: string;
  org_num: number;
  config: unknown;
  skip_launch?: boolean;
  reservation_id?: string;
}

/** The API gateway's client for one host's agent. Errors arrive as the agent's AloftErrors. */
export class AgentClient {
  readonly url: string;
  readonly #token: string;
  readonly #hostId: string;

  constructor(url: string, token: string, hostId: string) {
    this.url = url.replace(/\/$/, '');
    this.#token = token;
    this.#hostId = hostId;
  }

  #call<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>, timeoutMs?: number): Promise<T> {
    return requestJson<T>(method, `${this.url}${path}`, {
      token: this.#token,
      target: `the agent of host ${this.#hostId}`,
      ...(body === undefined ? {} : { body }),
      ...(headers === undefined ? {} : { headers }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  }

  reserve(cpus: number, memoryMb: number): Promise<{ id: string; expires_at: string; utilization_after: number }> {
    return this.#call('POST', '/v1/reservations', { cpus, memory_mb: memoryMb }, undefined, 5_000);
  }

  release(reservationId: string): Promise<void> {
    return this.#call('DELETE', `/v1/reservations/${encodeURIComponent(reservationId)}`);
  }

  /** Machines of the app with this id (never by name: names are reused, ids are not). */
  list(appId: string, includeDeleted: boolean): Promise<Machine[]> {
    const q = new URLSearchParams({ app_id: appId, include_deleted: String(includeDeleted) });
    return this.#call('GET', `/v1/machines?${q}`);
  }

  create(input: CreateOnAgent): Promise<Machine> {
    return this.#call('POST', '/v1/machines', input);
  }

  /** Forwards a per-machine call (`path` below `/v1/machines/{id}`) with the caller's query and lease nonce. */
  forward<T>(method: string, id: string, path: string, query: string, body: unknown, headers: Record<string, string>): Promise<T> {
    const suffix = query === '' ? '' : `?${query}`;
    // A wait may legitimately take its full timeout (≤ 60 s); give the call a little more.
    return this.#call(method, `/v1/machines/${id}${path}${suffix}`, body, headers, 75_000);
  }
}
