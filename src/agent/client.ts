import { Agent as Pool } from 'undici';
import { requestJson, type Machine } from '../lib/index.ts';
import type { HostView } from './http.ts';

/** Host calls (info, cordon) give up after this long: an operator is waiting on every host at once. */
export const hostCallTimeoutMs = 3_000;

/**
 * A host that does not complete a TCP handshake in this long counts as unreachable. Agents
 * listen on their hosts' underlay addresses, where even another region's host answers within
 * milliseconds; undici's default (10 s) would hold a call to a cut-off host ten times longer.
 */
export const agentConnectTimeoutMs = 1_000;

/** Connections to agents, shared by every client (keep-alive per agent). */
const agentPool = new Pool({ connect: { timeout: agentConnectTimeoutMs } });

export interface CreateOnAgent {
  id: string;
  name?: string;
  app: string;
  app_id: string;
  org: string;
  org_num: number;
  config: unknown;
  skip_launch?: boolean;
  skip_service_registration?: boolean;
  reservation_id?: string;
}

/**
 * The API gateway's client for one host's agent. Errors arrive as the agent's AloftErrors.
 * User operations (create, per-machine calls) carry the caller's own token, which the agent
 * verifies against the machine it targets; platform calls (reservations, listings, revocations)
 * carry a platform token from `platformToken`, minted fresh for each call.
 */
export class AgentClient {
  readonly url: string;
  readonly #platformToken: () => string;
  readonly #hostId: string;

  constructor(url: string, platformToken: () => string, hostId: string) {
    this.url = url.replace(/\/$/, '');
    this.#platformToken = platformToken;
    this.#hostId = hostId;
  }

  #call<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>, timeoutMs?: number, token?: string): Promise<T> {
    return requestJson<T>(method, `${this.url}${path}`, {
      token: token ?? this.#platformToken(),
      target: `the agent of host ${this.#hostId}`,
      ...(body === undefined ? {} : { body }),
      ...(headers === undefined ? {} : { headers }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      dispatcher: agentPool,
    });
  }

  reserve(cpus: number, memoryMb: number): Promise<{ id: string; expires_at: string; utilization_after: number }> {
    return this.#call('POST', '/v1/reservations', { cpus, memory_mb: memoryMb }, undefined, 5_000);
  }

  release(reservationId: string): Promise<void> {
    return this.#call('DELETE', `/v1/reservations/${encodeURIComponent(reservationId)}`);
  }

  /** What the host has, uses and runs; quick to fail, since listings ask every host at once. */
  host(): Promise<HostView> {
    return this.#call('GET', '/v1/host', undefined, undefined, hostCallTimeoutMs);
  }

  /** A cordoned host refuses new reservations; its machines keep running. */
  setCordoned(cordoned: boolean): Promise<HostView> {
    return this.#call('PUT', '/v1/host/cordon', { cordoned }, undefined, hostCallTimeoutMs);
  }

  /** Machines of the app with this id (never by name: names are reused, ids are not); abandoned after `timeoutMs`. */
  list(appId: string, includeDeleted: boolean, timeoutMs: number): Promise<Machine[]> {
    const q = new URLSearchParams({ app_id: appId, include_deleted: String(includeDeleted) });
    return this.#call('GET', `/v1/machines?${q}`, undefined, undefined, timeoutMs);
  }

  /**
   * Creates with the caller's token, which must allow `create` on the app, machine id and
   * region, beside a platform token that vouches for the org and app in `input` (see auth.ts).
   */
  create(input: CreateOnAgent, token: string): Promise<Machine> {
    return this.#call('POST', '/v1/machines', input, undefined, undefined, `${token},${this.#platformToken()}`);
  }

  /** Tells the agent these token ids are revoked, so it refuses them before its next refresh. */
  revoke(tokenIds: string[]): Promise<void> {
    return this.#call('POST', '/v1/revocations', { ids: tokenIds }, undefined, 5_000);
  }

  /** Forwards a per-machine call (`path` below `/v1/machines/{id}`) with the caller's token, query and lease nonce. */
  forward<T>(method: string, id: string, path: string, query: string, body: unknown, headers: Record<string, string>, token: string): Promise<T> {
    const suffix = query === '' ? '' : `?${query}`;
    // A wait may legitimately take its full timeout (≤ 60 s); give the call a little more.
    return this.#call(method, `/v1/machines/${id}${path}${suffix}`, body, headers, 75_000, token);
  }
}
