/**
 * Which token ids are revoked, as every verifier sees it.
 *
 * Why this shape: verification runs on every request wherever it lands (API, registry, each
 * agent) and must not call a central service per request, so each verifier keeps a local set
 * and `isRevoked` is a synchronous lookup. The central store is the source of truth. A
 * `RevocationList` learns of changes two ways: the API pushes newly revoked ids to the
 * verifiers it knows right after recording them (seconds of exposure become milliseconds), and
 * the list also re-reads the whole set from a `RevocationSource` every refresh interval, so a
 * verifier that missed a push (down, restarted, partitioned) converges within one interval.
 * The source is an interface because where the set comes from depends on the deployment: the
 * central store in-process, the API over HTTP for a separate process, or later the replicated
 * state layer. The set stays small because the API only lists revoked ids whose tokens have
 * not yet expired (an expired token is refused anyway).
 */
import { requestJson, type Logger } from '../lib/index.ts';

/** A synchronous, local answer to "is this token id revoked?". */
export interface RevocationSet {
  isRevoked(tokenId: string): boolean;
}

/** Where a verifier reads the full set of revoked ids from. */
export interface RevocationSource {
  revokedIds(): Promise<string[]>;
}

/** Refresh interval by default: the longest a verifier that missed a push keeps accepting a revoked token. */
export const REVOCATION_REFRESH_MS = 10_000;
/** A bound on what one source answer may hold, so a broken source cannot exhaust memory. */
export const REVOKED_IDS_MAX = 100_000;

export class RevocationList implements RevocationSet {
  #ids = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  isRevoked(tokenId: string): boolean {
    return this.#ids.has(tokenId);
  }

  /** Adds ids pushed by the API; they stay until a refresh says otherwise (after they expire). */
  add(ids: readonly string[]): void {
    for (const id of ids.slice(0, REVOKED_IDS_MAX)) this.#ids.add(id);
  }

  /**
   * Replaces the set with the source's. Ids pushed since the source was read are kept too: a
   * refresh that raced a push must not un-revoke a token for one interval.
   */
  async refresh(source: RevocationSource): Promise<void> {
    const pushedBefore = new Set(this.#ids);
    const ids = await source.revokedIds();
    const next = new Set(ids.slice(0, REVOKED_IDS_MAX));
    for (const id of this.#ids) if (!pushedBefore.has(id)) next.add(id);
    this.#ids = next;
  }

  get size(): number {
    return this.#ids.size;
  }

  /**
   * Refreshes now and then every `intervalMs` until `stop`. A failed refresh keeps the last
   * known set (failing closed would lock everyone out while the API is down, which lesson 3 of
   * the design forbids) and is logged.
   */
  follow(source: RevocationSource, logger: Logger, intervalMs = REVOCATION_REFRESH_MS): Promise<void> {
    this.stop();
    const tick = (): Promise<void> =>
      this.refresh(source).catch((err: unknown) => logger.warn({ err }, 'could not refresh revoked tokens; keeping the last known set'));
    this.#timer = setInterval(() => void tick(), intervalMs);
    this.#timer.unref();
    return tick();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Reads revoked ids from the API's `GET /v1/revocations`, presenting a token minted by `token()`. */
export function httpRevocationSource(apiUrl: string, token: () => string): RevocationSource {
  const url = `${apiUrl.replace(/\/$/, '')}/v1/revocations`;
  return {
    async revokedIds() {
      const body = await requestJson<{ revoked: unknown }>('GET', url, { token: token(), target: 'the Aloft API', timeoutMs: 10_000 });
      if (!Array.isArray(body.revoked) || !body.revoked.every((id) => typeof id === 'string')) {
        throw new Error('the API answered /v1/revocations without a list of ids');
      }
      return body.revoked as string[];
    },
  };
}
