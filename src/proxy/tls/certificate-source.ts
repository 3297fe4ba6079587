/**
 * Where a proxy gets its certificates and the ACME challenges it must answer. The interface
 * lets a fleet host feed it however it likes (from the API, from the state layer); the
 * implementation here long-polls the API's `GET /v1/platform/tls`, which answers as soon as
 * anything changed, so a new certificate or challenge reaches the proxy within a round trip.
 * The last material received is kept: with the API down, proxies keep serving what they have.
 */
import { request } from 'undici';
import { z } from 'zod';
import { sleep, type Logger } from '../../lib/index.ts';

export interface TlsMaterial {
  /** Grows with every change at the source. */
  version: number;
  /** Custom hostnames and the app each belongs to (with or without an issued certificate yet). */
  hostnames: { hostname: string; app: string }[];
  certificates: { hostname: string; certPem: string; keyPem: string }[];
  challenges: { token: string; hostname: string; keyAuthorization: string }[];
}

export interface CertificateSource {
  /** Calls `listener` with the whole material now (if known) and whenever it changes; returns the unsubscribe. */
  subscribe(listener: (material: TlsMaterial) => void): () => void;
  close(): Promise<void>;
}

export interface ApiCertificateSourceOptions {
  apiUrl: string;
  /** A platform token, asked for before every request (platform tokens are short-lived). */
  token: () => string;
  logger: Logger;
}

/** How long the API may hold one poll; the request itself gets a little longer. */
export const pollWaitMs = 20_000;
export const retryMinMs = 250;
export const retryMaxMs = 10_000;
/** A feed larger than this is refused rather than parsed (bounds memory on every proxy). */
export const feedBytesMax = 64 * 1024 * 1024;

const feedSchema = z.object({
  version: z.number().int(),
  hostnames: z.array(z.object({ hostname: z.string(), app: z.string() })),
  certificates: z.array(z.object({ hostname: z.string(), cert_pem: z.string(), key_pem: z.string() })),
  challenges: z.array(z.object({ token: z.string(), hostname: z.string(), key_authorization: z.string() })),
});

export class ApiCertificateSource implements CertificateSource {
  readonly #opts: ApiCertificateSourceOptions;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();
  readonly #abort = new AbortController();
  #material: TlsMaterial | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: ApiCertificateSourceOptions) {
    this.#opts = opts;
  }

  subscribe(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    if (this.#material !== undefined) listener(this.#material);
    this.#loop ??= this.#run();
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once the first material has arrived (or after `timeoutMs`). */
  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    this.#loop ??= this.#run();
    while (this.#material === undefined && performance.now() < deadline && !this.#abort.signal.aborted) await sleep(20);
    return this.#material !== undefined;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let retryMs = retryMinMs;
    while (!this.#abort.signal.aborted) {
      try {
        const material = await this.#poll(this.#material?.version ?? -1);
        retryMs = retryMinMs;
        if (material.version === this.#material?.version) continue;
        this.#material = material;
        for (const listener of this.#listeners) listener(material);
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        this.#opts.logger.warn({ err: String(err), retry_ms: retryMs }, 'fetching certificates from the API failed; serving the ones already held');
        await sleep(retryMs, this.#abort.signal).catch(() => undefined);
        retryMs = Math.min(retryMaxMs, retryMs * 2);
      }
    }
  }

  async #poll(after: number): Promise<TlsMaterial> {
    const url = `${this.#opts.apiUrl.replace(/\/$/, '')}/v1/platform/tls?after=${after}&wait=${pollWaitMs}`;
    const res = await request(url, {
      headers: { authorization: `Bearer ${this.#opts.token()}`, accept: 'application/json' },
      signal: this.#abort.signal,
      headersTimeout: pollWaitMs + 10_000,
      bodyTimeout: pollWaitMs + 10_000,
    });
    const length = Number(res.headers['content-length'] ?? 0);
    if (length > feedBytesMax) {
      res.body.destroy();
      throw new Error(`the certificate feed is ${length} bytes, over the ${feedBytesMax} byte limit`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET /v1/platform/tls answered ${res.statusCode}: ${text.slice(0, 200)}`);
    const feed = feedSchema.parse(JSON.parse(text));
    return {
      version: feed.version,
      hostnames: feed.hostnames,
      certificates: feed.certificates.map((c) => ({ hostname: c.hostname, certPem: c.cert_pem, keyPem: c.key_pem })),
      challenges: feed.challenges.map((c) => ({ token: c.token, hostname: c.hostname, keyAuthorization: c.key_authorization })),
    };
  }
}
